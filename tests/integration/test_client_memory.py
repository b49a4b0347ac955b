#!/usr/bin/env python3
"""CLIENT LIST / CLIENT INFO memory fields: multi-mem counts the queued MULTI commands and
argv-mem the arguments of the command the client runs, as Redis 7.0 computes them."""

from sluice_harness import assert_eq, main, shared_server, test

POINTER = 8


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)


def line_of(lines, name):
    for line in lines.decode().splitlines():
        f = fields(line)
        if f.get("name") == name:
            return f
    raise AssertionError(f"no client named {name} in {lines!r}")


def queued_mem(commands):
    # Redis's argv_len_sums: the argument bytes plus one pointer per argument.
    return sum(sum(len(a) for a in cmd) + POINTER * len(cmd) for cmd in commands)


@test
def multi_mem_counts_the_queued_commands_and_drops_to_zero_after_exec():
    server = shared_server()
    tx = server.conn()
    other = server.conn()
    assert_eq(tx.call("CLIENT", "SETNAME", "txmem"), "OK")
    before = line_of(other.call("CLIENT", "LIST"), "txmem")
    assert_eq(before["multi-mem"], "0")
    queued = [("SET", "mm:k", "v" * 100), ("GET", "mm:k"), ("APPEND", "mm:k", "xyz")]
    assert_eq(tx.call("MULTI"), "OK")
    for cmd in queued:
        assert_eq(tx.call(*cmd), "QUEUED")
    during = line_of(other.call("CLIENT", "LIST"), "txmem")
    assert_eq(during["multi"], str(len(queued)))
    assert_eq(int(during["multi-mem"]), queued_mem(queued))
    assert_eq(int(during["tot-mem"]) - int(before["tot-mem"]), queued_mem(queued))
    tx.call("EXEC")
    after = line_of(other.call("CLIENT", "LIST"), "txmem")
    assert_eq(after["multi-mem"], "0")
    tx.call("DEL", "mm:k")


@test
def argv_mem_is_the_size_of_the_running_command_for_the_caller_only():
    server = shared_server()
    c = server.conn()
    other = server.conn()
    assert_eq(c.call("CLIENT", "SETNAME", "argvmem"), "OK")
    assert_eq(other.call("CLIENT", "SETNAME", "argvother"), "OK")
    info = fields(c.call("CLIENT", "INFO").decode().strip())
    assert_eq(int(info["argv-mem"]), len("CLIENT") + len("INFO"))
    listing = c.call("CLIENT", "LIST", "TYPE", "normal")
    assert_eq(int(line_of(listing, "argvmem")["argv-mem"]),
              len("CLIENT") + len("LIST") + len("TYPE") + len("normal"))
    assert_eq(line_of(listing, "argvother")["argv-mem"], "0")


if __name__ == "__main__":
    main()
