"""<dir>/repl-state across restarts and reboots (broker/replication/replication.h): a line
written while the server ran ('c') is trusted after a process crash on the same boot, not after
the machine restarted (its data may hold less than the offset says); a line written by a clean
shutdown ('s', made durable after the data's final sync) is trusted after a reboot too. A
machine restart is simulated by a line carrying another boot ID."""

from sluice_harness import Server, assert_eq, assert_true, main, test

REPLID = "a" * 40
OTHER_BOOT = "00000000-0000-0000-0000-000000000000"


def this_boot():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def write_state(srv, line):
    (srv.dir / "repl-state").write_text(line)


def replication_info(srv):
    info = {}
    for row in srv.conn().call("INFO", "replication").decode().splitlines():
        if ":" in row:
            k, v = row.split(":", 1)
            info[k] = v
    return info


def start_with(line):
    srv = Server(start=False)
    write_state(srv, line)
    srv.start()
    return srv


def state_line(mark, boot, db=None):
    line = f"{REPLID} {1234:020d} {mark} {boot:<36}"
    return line + ("\n" if db is None else f" {db:05d}\n")


def trusted(srv):
    info = replication_info(srv)
    return info["master_replid"] == REPLID and info["master_repl_offset"] == "1234"


@test()
def a_running_servers_line_is_trusted_on_the_same_boot():
    with start_with(state_line("c", this_boot())) as srv:
        assert_true(trusted(srv), replication_info(srv))


@test()
def a_running_servers_line_is_not_trusted_after_a_reboot():
    with start_with(state_line("c", OTHER_BOOT)) as srv:
        info = replication_info(srv)
        assert_true(info["master_replid"] != REPLID, info)
        assert_true("the machine restarted since the last run" in srv.log_text(),
                    srv.log_tail())


@test()
def a_clean_shutdowns_line_is_trusted_after_a_reboot():
    with start_with(state_line("s", OTHER_BOOT)) as srv:
        assert_true(trusted(srv), replication_info(srv))


@test()
def a_line_left_flushing_is_never_trusted():
    with start_with(state_line("i", this_boot())) as srv:
        assert_true(replication_info(srv)["master_replid"] != REPLID)


@test()
def older_lines_without_boot_id_are_read_as_before():
    with start_with(f"{REPLID} {1234:020d} c\n") as srv:
        assert_true(trusted(srv), replication_info(srv))


@test()
def a_clean_shutdown_writes_a_durable_line_with_this_boot():
    with start_with(state_line("c", this_boot())) as srv:
        srv.stop()
        fields = (srv.dir / "repl-state").read_text().split()
        assert_eq(fields, [REPLID, f"{1234:020d}", "s", this_boot(), "00000"])
        srv.start()
        assert_true(trusted(srv), replication_info(srv))


@test()
def the_streams_database_is_kept_and_a_bad_one_read_as_zero():
    # The database the master's stream is in at the offset (a partial resync resumes there):
    # read with the line and written back; one out of range is 0, as lines without it.
    for written, kept in ((7, "00007"), (99999, "00000")):
        with start_with(state_line("c", this_boot(), written)) as srv:
            assert_true(trusted(srv), replication_info(srv))
            srv.stop()
            fields = (srv.dir / "repl-state").read_text().split()
            assert_eq(fields, [REPLID, f"{1234:020d}", "s", this_boot(), kept])


if __name__ == "__main__":
    main()
