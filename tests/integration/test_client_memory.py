#!/usr/bin/env python3
"""CLIENT LIST / CLIENT INFO memory fields: multi-mem counts the queued MULTI commands and
argv-mem the arguments of the command the client runs, as Redis 7.0 computes them."""

import socket

from sluice_harness import (Server, assert_eq, assert_true, main, read_reply, shared_server, test,
                            wait_until)

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


def qbuf_of(server, name):
    f = line_of(server.conn().call("CLIENT", "LIST"), name)
    return int(f["qbuf"]), int(f["qbuf-free"])


def check_query_buffer_fields(server):
    raw = socket.create_connection((server.host, server.port))
    raw.sendall(b"CLIENT SETNAME partial\r\n")
    assert_eq(read_reply(raw), b"+OK\r\n")
    # A multibulk command cut inside its last argument: the complete arguments have left the
    # query buffer, the 3 bytes of the partial one remain.
    raw.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nqb\r\n$10\r\nabc")
    wait_until(lambda: qbuf_of(server, "partial")[0] == 3, msg="qbuf=3")
    assert_true(qbuf_of(server, "partial")[1] > 0, "qbuf-free is the buffer's free space")
    raw.sendall(b"defghij\r\n")
    assert_eq(read_reply(raw), b"+OK\r\n")
    assert_eq(qbuf_of(server, "partial")[0], 0)
    # An inline command waits whole for its newline.
    raw.sendall(b"GET q")
    wait_until(lambda: qbuf_of(server, "partial")[0] == 5, msg="qbuf=5")
    raw.sendall(b"b\r\n")
    assert_eq(read_reply(raw), b"$10\r\nabcdefghij\r\n")
    # The caller sees its own command, and what was read with it, in the buffer.
    info = b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n"
    ping = b"*1\r\n$4\r\nPING\r\n"
    raw.sendall(info)
    assert_eq(int(fields(read_reply(raw).decode().split("\r\n")[1])["qbuf"]), len(info))
    raw.sendall(info + ping)
    reply = read_reply(raw)
    assert_eq(int(fields(reply.decode().split("\r\n")[1])["qbuf"]), len(info) + len(ping))
    raw.close()
    server.conn().call("DEL", "qb")


@test
def qbuf_counts_unparsed_input_as_redis_does():
    with Server(redis=True) as redis:
        check_query_buffer_fields(redis)
    check_query_buffer_fields(shared_server())


if __name__ == "__main__":
    main()
