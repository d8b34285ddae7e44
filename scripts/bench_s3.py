#!/usr/bin/env python3
"""sannong on S3 against the local directory: the time of an upload and of a query on
each, and how many object-store requests (by HTTP method) each makes on S3.

S3 is moto's server (pip `moto[server]`), reached through a small counting proxy in this
script, so every request sannong sends is seen. Usage:

    python3 scripts/bench_s3.py [--sannong PATH] [--rows 1000,10000,100000]

Prints a table; the figures are ratios and counts, the machine being shared and noisy.
"""

import argparse
import collections
import http.client
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

VILLAGES = "村代码,行政村,镇,是否贫困村\n441821101001,新坑村,石角镇,否\n441821101002,联田村,石角镇,是\n"
STATIONS = "服务站编号,服务站名称,村代码,运营方,定时定点配送,状态,开通日期\nST001,新坑站,441821101001,邮政,是,运营,2020-01-05\n"
PARCELS_HEADER = "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n"
QUERY = ("SELECT _period, courier, count(*) AS parcels, sum(fee_yuan) AS fees "
         "FROM logistics.parcels GROUP BY _period, courier ORDER BY _period, courier")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counter:
    """Requests seen by the proxy, by HTTP method."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_method = collections.Counter()

    def add(self, method):
        with self.lock:
            self.by_method[method] += 1

    def take(self):
        with self.lock:
            counts, self.by_method = dict(self.by_method), collections.Counter()
        return counts


def start_proxy(upstream_port, counter):
    """A reverse proxy to moto that counts each request."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            counter.add(self.command)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            headers = {k: v for k, v in self.headers.items()}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            upstream.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port


def start_moto():
    port = free_port()
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/bench", method="PUT"))
    return process, port


def parcels(month, rows):
    lines = [PARCELS_HEADER]
    for i in range(rows):
        lines.append(f"P{month}{i:07d},{'邮政' if i % 3 else '顺丰'},下行,ST001,441821101001,"
                     f"2021-{month}-05 09:00:00,,,{5 + i % 7}.00,1\n")
    return "".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sannong", default=os.environ.get("SANNONG", "target/release/sannong"))
    parser.add_argument("--rows", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]

    moto, moto_port = start_moto()
    counter = Counter()
    proxy_port = start_proxy(moto_port, counter)
    work = tempfile.mkdtemp(prefix="sannong-bench-s3-")
    s3_env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy_port}",
                  AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
                  SANNONG_CACHE_DIR=os.path.join(work, "cache"))
    local_env = dict(s3_env)
    roots = {"local": (os.path.join(work, "local"), local_env), "s3": ("s3://bench/county", s3_env)}

    def run(where, *command):
        root, env = roots[where]
        started = time.perf_counter()
        done = subprocess.run([args.sannong, "--data", root, *command], env=env,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"{where}: sannong {' '.join(command)} failed:\n{done.stderr}")
        return elapsed

    def write(name, text):
        path = os.path.join(work, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    results = []
    try:
        for where in roots:
            run(where, "plugin", "install", "--builtin")
            run(where, "upload", "--duty", "villages", write("villages.csv", VILLAGES))
            run(where, "upload", "--duty", "stations", write("stations.csv", STATIONS))
        counter.take()
        for month, rows in enumerate(sizes, start=1):
            path = write(f"parcels-{month}.csv", parcels(f"{month:02d}", rows))
            local = run("local", "upload", "--duty", "parcels", "--period", f"2021-{month:02d}", path)
            counter.take()
            s3 = run("s3", "upload", "--duty", "parcels", "--period", f"2021-{month:02d}", path)
            results.append((f"upload {rows:,} rows", local, s3, counter.take()))
        local = min(run("local", "sql", QUERY) for _ in range(3))
        counter.take()
        s3_times = []
        for _ in range(3):
            s3_times.append(run("s3", "sql", QUERY))
            requests = counter.take()
        results.append((f"query over {sum(sizes):,} rows", local, min(s3_times), requests))
    finally:
        moto.terminate()

    print(f"{'what':<28} {'local s':>9} {'S3 s':>9} {'S3/local':>9}  S3 requests (by method)")
    for what, local, s3, requests in results:
        total = sum(requests.values())
        detail = ", ".join(f"{m} {n}" for m, n in sorted(requests.items()))
        print(f"{what:<28} {local:>9.3f} {s3:>9.3f} {s3 / local:>8.2f}x  {total} ({detail})")


if __name__ == "__main__":
    main()
