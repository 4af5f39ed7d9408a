#!/usr/bin/env python3
"""A real gRPC peer (Debian python3-grpcio) for usher's gRPC tests, with raw-bytes messages
(no protobuf code generation).

  grpc_peer.py server            serves test.Echo on 127.0.0.1:0, prints "port N", runs until
                                 stdin closes
  grpc_peer.py client HOST:PORT  calls every method through HOST:PORT (usher) and prints one
                                 line per check: "ok <name>" or "fail <name>: <why>"
"""
import sys
import threading

import grpc

SERVICE = "test.Echo"


def unary(request, context):
    context.set_trailing_metadata((("x-served-by", "grpc-peer"),))
    return request[::-1]


def server_stream(request, context):
    count = int(request.decode())
    for i in range(count):
        yield ("msg-%d" % i).encode()


def client_stream(request_iterator, context):
    total = 0
    parts = 0
    for chunk in request_iterator:
        total += len(chunk)
        parts += 1
    return ("%d bytes in %d messages" % (total, parts)).encode()


def bidi(request_iterator, context):
    for chunk in request_iterator:
        yield chunk.upper()


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def serve():
    from concurrent import futures

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port %d" % port, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.stop(0)


def client(target):
    results = []

    def check(name, cond, why=""):
        results.append(("ok " + name) if cond else ("fail %s: %s" % (name, why)))

    with grpc.insecure_channel(target) as channel:
        method = lambda kind, name: getattr(channel, kind)("/%s/%s" % (SERVICE, name))
        try:
            reply, call = method("unary_unary", "Unary").with_call(b"hello", timeout=10)
            check("unary", reply == b"olleh", repr(reply))
            trailers = dict(call.trailing_metadata() or ())
            check("trailers", trailers.get("x-served-by") == "grpc-peer", repr(trailers))
        except grpc.RpcError as e:
            check("unary", False, "%s %s" % (e.code(), e.details()))
        try:
            big = bytes(range(256)) * 4096  # 1 MiB: many DATA frames, windows re-opened
            reply = method("unary_unary", "Unary")(big, timeout=10)
            check("unary_1mib", reply == big[::-1], "len %d" % len(reply))
        except grpc.RpcError as e:
            check("unary_1mib", False, "%s %s" % (e.code(), e.details()))
        try:
            msgs = list(method("unary_stream", "ServerStream")(b"50", timeout=10))
            check("server_stream", msgs == [("msg-%d" % i).encode() for i in range(50)],
                  "%d messages" % len(msgs))
        except grpc.RpcError as e:
            check("server_stream", False, "%s %s" % (e.code(), e.details()))
        try:
            reply = method("stream_unary", "ClientStream")(
                iter([b"x" * 1000] * 30), timeout=10)
            check("client_stream", reply == b"30000 bytes in 30 messages", repr(reply))
        except grpc.RpcError as e:
            check("client_stream", False, "%s %s" % (e.code(), e.details()))
        try:
            # Interleaved: each reply arrives before the next request is sent.
            replies = []
            cond = threading.Condition()

            def requests():
                for i in range(5):
                    yield ("ping-%d" % i).encode()
                    with cond:
                        cond.wait_for(lambda: len(replies) > i, timeout=5)

            for r in method("stream_stream", "Bidi")(requests(), timeout=10):
                with cond:
                    replies.append(r)
                    cond.notify_all()
            check("bidi", replies == [("PING-%d" % i).encode() for i in range(5)], repr(replies))
        except grpc.RpcError as e:
            check("bidi", False, "%s %s" % (e.code(), e.details()))
        try:
            method("unary_unary", "Fail")(b"x", timeout=10)
            check("status", False, "no error")
        except grpc.RpcError as e:
            check("status", e.code() == grpc.StatusCode.NOT_FOUND and
                  e.details() == "no such thing: x", "%s %s" % (e.code(), e.details()))
    print("\n".join(results), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        client(sys.argv[2])
