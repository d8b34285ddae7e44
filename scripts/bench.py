"""sannong against DuckDB, side by side, on the synthetic sample county.

Its one job: measure the release `sannong` binary and DuckDB on the same data and print
(and write to a JSON file) the figures of issue "10/10 Performance", for each scale
asked:

1. load the whole county through sannong's upload path (`sannong demo --scale N`);
2. ingest: one large monthly parcels CSV (and a 1,000-row one, for the fixed
   overhead, and one of four times the rows, once, for peak memory against file size)
   through `sannong upload` against DuckDB's `COPY (SELECT * FROM read_csv(…)) TO
   '….parquet'`: rows/s, peak memory, the upload's phases;
3. scorecard: `sannong kpi --year 2021` (and `GET /api/kpis` on a running server)
   against the same 16 KPI statements in DuckDB over the same data exported to
   Parquet by sannong itself; the values must agree (relative 1e-9);
4. analyst queries: three queries through sannong's HTTP API (and psql against its
   PostgreSQL port) against DuckDB over the same Parquet; the answers must agree;
5. growth: each figure's factor from the smallest scale to the others.

Headline figures are ratios (sannong ÷ DuckDB, or DuckDB ÷ sannong for rows/s), since
the machines are shared and noisy. Standard library and duckdb only.

    scripts/bench.sh [--scales 1,10] [--sannong PATH] [--out docs/bench-results.json]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import fcntl
import json
import os
import platform
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/work/.sannong-target"))
TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None

# The tables the KPIs and the analyst queries read, exported to Parquet by sannong.
TABLES = [
    "admin.villages",
    "logistics.stations",
    "logistics.parcels",
    "stats.ecommerce_monthly",
    "training.sessions",
    "training.attendance",
    "training.job_fairs",
    "quality.tests",
    "programme.facilities",
    "prices.reference",
]

# The KPI parameters for the scorecard of 2021 (Window::year(2021) in kpi.rs: through
# December; the implementation window 2020-07-01 .. 2022-01-01 cut at y_end).
YEAR = 2021
PARAMETERS = {
    "y_start": f"{YEAR}-01-01",
    "y_end": f"{YEAR + 1}-01-01",
    "b_start": f"{YEAR - 1}-01-01",
    "b_end": f"{YEAR}-01-01",
    "y_first_period": f"{YEAR}-01",
    "y_last_period": f"{YEAR}-12",
    "b_first_period": f"{YEAR - 1}-01",
    "b_last_period": f"{YEAR - 1}-12",
    "impl_start": "2020-07-01",
    "impl_end": min("2022-01-01", f"{YEAR + 1}-01-01"),
}

ANALYST_QUERIES = {
    "parcels by month, town, courier": """
SELECT CAST(date_trunc('month', p.handed_in_at) AS DATE) AS month, v.town, p.courier, count(*) AS parcels
FROM logistics.parcels p JOIN admin.villages v ON p.village_code = v.village_code
GROUP BY CAST(date_trunc('month', p.handed_in_at) AS DATE), v.town, p.courier
ORDER BY month, town, courier""",
    "transaction value growth by town": """
WITH yearly AS (
  SELECT town, CAST(date_part('year', month) AS INTEGER) AS year, sum(transaction_value) AS value
  FROM stats.ecommerce_monthly
  GROUP BY town, CAST(date_part('year', month) AS INTEGER))
SELECT c.town, c.year, CAST(c.value AS DOUBLE) / CAST(b.value AS DOUBLE) - 1 AS growth
FROM yearly c JOIN yearly b ON c.town = b.town AND c.year = b.year + 1
ORDER BY c.town, c.year""",
    "same-day rate by station": """
SELECT station_id, count(*) AS parcels,
       CAST(sum(CASE WHEN CAST(warehouse_at AS DATE) = CAST(handed_in_at AS DATE) THEN 1 ELSE 0 END) AS DOUBLE)
         / count(*) AS same_day_rate
FROM logistics.parcels
WHERE direction = '上行' AND date_part('hour', handed_in_at) < 14
GROUP BY station_id
ORDER BY station_id""",
}

PHASES = [
    "reading",
    "checking the template",
    "running the plugin and checking against committed tables",
    "committing",
]


# ---------------------------------------------------------------- running things


def measure(cmd: list[str], env: dict | None = None, tty_stderr: bool = False) -> dict:
    """Runs `cmd`; its wall time, peak memory (MB) and output, and — with
    `tty_stderr` — when each progress step first showed on its (pseudo-)terminal."""
    timing = tempfile.NamedTemporaryFile(prefix="bench-time-", delete=False)
    timing.close()
    full = [TIME, "-v", "-o", timing.name, *cmd] if TIME else cmd
    steps: dict[str, float] = {}
    master = slave = None
    if tty_stderr:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    before = _children_maxrss()
    start = time.perf_counter()
    proc = subprocess.Popen(
        full,
        stdout=subprocess.PIPE,
        stderr=slave if tty_stderr else subprocess.PIPE,
        env=env,
    )
    reader = None
    if tty_stderr:
        os.close(slave)
        reader = threading.Thread(target=_watch_steps, args=(master, start, steps))
        reader.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if reader:
        reader.join()
        os.close(master)
    rss_mb = None
    if TIME:
        text = Path(timing.name).read_text()
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        rss_mb = int(found.group(1)) / 1024 if found else None
    else:
        after = _children_maxrss()
        rss_mb = after / 1024 if after > before else None
    os.unlink(timing.name)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{out.decode(errors='replace')}\n"
            f"{(err or b'').decode(errors='replace')}"
        )
    return {"seconds": seconds, "rss_mb": rss_mb, "stdout": out.decode(), "steps": steps}


def _children_maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _watch_steps(fd: int, start: float, steps: dict[str, float]) -> None:
    seen = ""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        now = time.perf_counter() - start
        seen = (seen + chunk.decode(errors="replace"))[-4096:]
        for phase in PHASES:
            if phase not in steps and phase in seen:
                steps[phase] = now


def median_of(n: int, fn) -> tuple[float, object]:
    """The median wall time of `n` calls of `fn` (which returns (seconds, result))
    and the last result."""
    times, result = [], None
    for _ in range(n):
        seconds, result = fn()
        times.append(seconds)
    return statistics.median(times), result


class Server:
    """`sannong serve` on free ports, stopped with SIGTERM."""

    def __init__(self, sannong: str, data: Path):
        self.proc = subprocess.Popen(
            [sannong, "--data", str(data), "serve", "--addr", "127.0.0.1:0",
             "--pg-addr", "127.0.0.1:0", "--flight-addr", "off"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.url = self.pg = None
        for line in self.proc.stdout:
            if found := re.search(r"postgresql://([\d.]+):(\d+)/", line):
                self.pg = (found.group(1), found.group(2))
            if found := re.search(r"on (http://[\d.:]+)", line):
                self.url = found.group(1)
                break
        if not self.url:
            raise RuntimeError("sannong serve printed no URL")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def http(url: str, token: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body else "GET")
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read()


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


# ---------------------------------------------------------------- DuckDB

DUCK_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import duckdb
job = json.load(open(sys.argv[1]))
con = duckdb.connect()
for schema in sorted({t.split('.')[0] for t in job['views']}):
    con.execute(f'CREATE SCHEMA IF NOT EXISTS {schema}')
for table, path in job['views'].items():
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
t1 = time.perf_counter()
out = []
for sql in job['sqls']:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    out.append([dict(zip(names, [float(v) if v is not None else None for v in row])) for row in cur.fetchall()])
print(json.dumps({'queries_seconds': time.perf_counter() - t1, 'results': out}))
"""

DUCK_COPY = r"""
import sys, time
import duckdb
t = time.perf_counter()
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
print(time.perf_counter() - t)
"""


def duck_views(connection, views: dict[str, str]) -> None:
    for schema in sorted({t.split(".")[0] for t in views}):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, path in views.items():
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")


# ---------------------------------------------------------------- comparing answers


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return str(a) == str(b)


def cell(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v) if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", str(v)) else str(v)
    except ValueError:
        return str(v)


def rows_differ(ours: list[list], theirs: list[list]) -> str | None:
    if len(ours) != len(theirs):
        return f"{len(ours)} rows against {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = [cell(x) for x in a], [cell(x) for x in b]
        if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b)):
            return f"row {i}: {a} against {b}"
    return None


def json_rows(body: bytes) -> list[list]:
    """Rows of sannong's JSON query answer (an array of objects, or an object with one)."""
    answer = json.loads(body)
    if isinstance(answer, dict):
        answer = next((v for v in answer.values() if isinstance(v, list)), [])
    return [list(r.values()) if isinstance(r, dict) else list(r) for r in answer]


# ---------------------------------------------------------------- the parcels file

HEADERS = ["运单号", "快递公司", "方向", "服务站编号", "村代码", "收寄时间", "到达县仓时间", "妥投时间", "资费(元)", "重量(kg)"]
COURIERS = ["邮政", "邮政", "邮政", "韵达", "圆通", "顺丰", "京东", "其他"]


def write_parcels(path: Path, rows: int, year: int, month: int, stations: list[tuple[str, str]]) -> None:
    """`rows` parcels of one month in the sample county's parcels template (its
    Chinese headers and value formats; UTF-8, which the template accepts and DuckDB
    reads — the sample's own files are GBK), for stations that exist."""
    rng = random.Random(f"{year}-{month}-{rows}")
    days = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.date(year, month, 1)).days
    fmt = "%Y-%m-%d %H:%M:%S"
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADERS)
        for seq in range(rows):
            station, village = stations[rng.randrange(len(stations))]
            upstream = rng.random() < 0.4
            day = dt.datetime(year, month, 1 + rng.randrange(days))
            handed = day + dt.timedelta(seconds=8 * 3600 + rng.randrange(10 * 3600))
            warehouse = ""
            if upstream:
                same_day = handed.hour < 14 and rng.random() < 0.97
                base = day if same_day else day + dt.timedelta(days=1)
                w = max(base + dt.timedelta(seconds=16 * 3600 + rng.randrange(4 * 3600)),
                        handed + dt.timedelta(minutes=30))
                warehouse = w.strftime(fmt)
            delivered = "" if rng.random() < 0.03 else (
                handed + dt.timedelta(hours=4 + rng.randrange(60))).strftime(fmt)
            weight = round(0.2 + rng.randrange(480) / 100, 2)
            fee = (500 + rng.randrange(80) - 40) if upstream and weight <= 1 else (
                700 + rng.randrange(200) - 100 + int(weight * 40))
            out.writerow([
                f"YZ{year}{month:02}{seq:07}", COURIERS[rng.randrange(len(COURIERS))],
                "上行" if upstream else "下行", station, village, handed.strftime(fmt),
                warehouse, delivered, f"{fee // 100}.{fee % 100:02}", f"{weight:g}",
            ])


# ---------------------------------------------------------------- one scale


def bench_scale(args, scale: int, work: Path) -> dict:
    sannong = args.sannong
    result: dict = {"scale": scale}
    log = lambda msg: print(f"[scale {scale}] {msg}", file=sys.stderr, flush=True)

    county = work / "county"
    subprocess.run([args.sample_county, "--out", str(county), "--scale", str(scale)],
                   check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads((county / "uploads.json").read_text())
    result["county_files"] = len(manifest["uploads"])
    result["county_rows"] = sum(u["rows"] for u in manifest["uploads"])
    result["parcels_rows"] = manifest["expected_rows"].get("logistics.parcels")
    parcels_file = next(u for u in manifest["uploads"] if u["duty"] == "parcels")["file"]
    headers = (county / parcels_file).read_bytes().decode("gbk").splitlines()[0].split(",")
    assert headers == HEADERS, f"the sample's parcels headers changed: {headers}"

    # 1. The whole county through the upload path.
    data = work / "data"
    log("loading the county")
    run = measure([sannong, "--data", str(data), "demo", "--scale", str(scale)])
    stored = int(re.search(r"(\d+) rows stored", run["stdout"]).group(1))
    result["load"] = {"seconds": run["seconds"], "rss_mb": run["rss_mb"], "rows": stored,
                      "rows_per_s": stored / run["seconds"]}

    token = subprocess.run([sannong, "--data", str(data), "token", "create", "--role", "analyst",
                            "--name", "bench"], check=True, capture_output=True, text=True
                           ).stdout.strip().splitlines()[-1]
    server = Server(sannong, data)
    try:
        # The same data, exported to Parquet by sannong itself.
        parquet = work / "parquet"
        parquet.mkdir()
        views = {}
        start = time.perf_counter()
        for table in TABLES:
            sql = urllib.parse.quote(f"SELECT * FROM {table}")
            path = parquet / f"{table}.parquet"
            path.write_bytes(http(f"{server.url}/api/query?sql={sql}&format=parquet", token))
            views[table] = str(path)
        result["export_seconds"] = time.perf_counter() - start
        log("exported to Parquet")
        result["scorecard"] = scorecard(args, sannong, data, server, token, views, work)
        log("scorecard done")
        result["queries"] = analyst_queries(args, server, token, views)
        log("analyst queries done")
    finally:
        server.stop()

    result["ingest"] = ingest(args, sannong, data, work)
    log("ingest done")
    return result


def scorecard(args, sannong, data, server, token, views, work) -> dict:
    import duckdb

    kpis = tomllib.loads((ROOT / "catalog/programme/kpis.toml").read_text())["kpi"]
    sqls = []
    for kpi in kpis:
        sql = kpi["sql"]
        for name, value in PARAMETERS.items():
            sql = sql.replace("{" + name + "}", value)
        sqls.append(sql)  # no dialect change needed: DuckDB runs the statements as they are

    def cli():
        run = measure([sannong, "--data", str(data), "kpi", "--year", str(YEAR), "--format", "json"])
        return run["seconds"], json.loads(run["stdout"])

    cli_s, ours = median_of(args.repeat, cli)
    http(f"{server.url}/api/kpis?year={YEAR}", token)  # warm
    http_s, _ = median_of(args.repeat, lambda: timed(http, f"{server.url}/api/kpis?year={YEAR}", token))

    job = work / "scorecard.json"
    job.write_text(json.dumps({"views": views, "sqls": sqls}))

    def duck_cold():
        run = measure([sys.executable, "-c", DUCK_SCRIPT, str(job)])
        return run["seconds"], json.loads(run["stdout"])

    cold_s, cold = median_of(args.repeat, duck_cold)
    con = duckdb.connect()
    duck_views(con, views)

    def duck_warm():
        start = time.perf_counter()
        rows = [con.execute(sql).fetchall() for sql in sqls]
        return time.perf_counter() - start, rows

    duck_warm()
    warm_s, _ = median_of(args.repeat, duck_warm)
    con.close()

    differences = []
    for kpi, theirs in zip(ours, cold["results"]):
        row = theirs[0] if theirs else {}
        for field in ("value", "current", "baseline", "numerator", "denominator"):
            if field in row and not same(kpi.get(field), row[field]):
                differences.append(f"{kpi['id']}.{field}: sannong {kpi.get(field)} DuckDB {row[field]}")
    return {
        "kpis": len(sqls),
        "sannong_cli_s": cli_s,
        "sannong_http_s": http_s,
        "duckdb_process_s": cold_s,
        "duckdb_queries_s": warm_s,
        "ratio_cli": cli_s / cold_s,
        "ratio_http": http_s / warm_s,
        "values": {k["id"]: k["value"] for k in ours},
        "values_agree": not differences,
        "differences": differences,
    }


def analyst_queries(args, server, token, views) -> dict:
    import duckdb

    con = duckdb.connect()
    duck_views(con, views)
    out = {}
    for name, sql in ANALYST_QUERIES.items():
        ours = json_rows(http(f"{server.url}/api/query", token, {"sql": sql, "format": "json"}))
        theirs = [list(r) for r in con.execute(sql).fetchall()]
        difference = rows_differ(ours, theirs)
        http_s, _ = median_of(5, lambda: timed(http, f"{server.url}/api/query", token,
                                               {"sql": sql, "format": "arrow"}))
        psql_s = None
        if shutil.which("psql") and server.pg:
            env = dict(os.environ, PGPASSWORD=token)
            psql = ["psql", "-X", "-q", "-h", server.pg[0], "-p", server.pg[1], "-U", "bench",
                    "-d", "sannong", "-o", "/dev/null", "-c", sql.strip()]
            try:
                subprocess.run(psql, env=env, check=True, capture_output=True)
                psql_s, _ = median_of(5, lambda: timed(
                    lambda: subprocess.run(psql, env=env, check=True, capture_output=True)))
            except subprocess.CalledProcessError as e:
                psql_s = None
                out.setdefault("_psql_errors", []).append(e.stderr.decode(errors="replace"))
        duck_s, _ = median_of(5, lambda: timed(lambda: con.execute(sql).fetchall()))
        out[name] = {
            "rows": len(theirs),
            "sannong_http_s": http_s,
            "sannong_psql_s": psql_s,
            "duckdb_s": duck_s,
            "ratio_http": http_s / duck_s,
            "ratio_psql": psql_s / duck_s if psql_s else None,
            "answers_agree": difference is None,
            "difference": difference,
        }
    con.close()
    return out


def ingest(args, sannong, data, work) -> dict:
    stations_csv = subprocess.run(
        [sannong, "--data", str(data), "sql",
         "SELECT station_id, village_code FROM logistics.stations WHERE status = '运营' ORDER BY station_id",
         "--format", "csv"], check=True, capture_output=True, text=True).stdout
    stations = [tuple(r) for r in csv.reader(stations_csv.splitlines()[1:]) if r]
    out = {}
    # "larger" is four times "large": the upload's peak memory should not grow with it.
    sizes = [("small", 1_000, 7, args.repeat), ("large", args.ingest_rows, 6, args.ingest_repeat)]
    if args.ingest_larger:
        sizes.append(("larger", 4 * args.ingest_rows, 5, 1))
    for label, rows, month, repeat in sizes:
        path = work / f"parcels-2022-{month:02}-{rows}.csv"
        write_parcels(path, rows, 2022, month, stations)
        runs, phases = [], []
        for _ in range(repeat):
            scratch = work / "scratch"
            shutil.copytree(data, scratch)  # every run uploads into the county as loaded
            run = measure([sannong, "--data", str(scratch), "upload", "--duty", "parcels",
                           "--period", f"2022-{month:02}", str(path)], tty_stderr=True)
            assert "已接收 accepted" in run["stdout"], run["stdout"]
            shutil.rmtree(scratch)
            runs.append(run)
            phases.append(phase_seconds(run))
        duck = [measure([sys.executable, "-c", DUCK_COPY, str(path), str(work / "x.parquet")])
                for _ in range(repeat)]
        s = statistics.median(r["seconds"] for r in runs)
        d = statistics.median(r["seconds"] for r in duck)
        out[label] = {
            "rows": rows,
            "file_mb": path.stat().st_size / 2**20,
            "sannong_s": s,
            "sannong_rows_per_s": rows / s,
            "sannong_rss_mb": max(r["rss_mb"] or 0 for r in runs),
            "sannong_phases_s": phases[len(phases) // 2],
            "duckdb_s": d,
            "duckdb_copy_only_s": statistics.median(float(r["stdout"]) for r in duck),
            "duckdb_rows_per_s": rows / d,
            "duckdb_rss_mb": max(r["rss_mb"] or 0 for r in duck),
            "ratio_rows_per_s": (rows / s) / (rows / d),
        }
        path.unlink()
    return out


def phase_seconds(run: dict) -> dict:
    """The upload's phases from when their progress step appeared (to 0.12 s)."""
    marks = sorted((t, p) for p, t in run["steps"].items())
    if not marks:
        return {}
    phases = {"start (before reading)": marks[0][0]}
    for (t, p), (t_next, _) in zip(marks, marks[1:] + [(run["seconds"], None)]):
        phases[p] = t_next - t
    return phases


# ---------------------------------------------------------------- the report


def figures(r: dict) -> dict[str, float | None]:
    """The headline figures of one scale, by name."""
    f = {
        "county rows loaded": r["load"]["rows"],
        "load whole county, s": r["load"]["seconds"],
        "load whole county, rows/s": r["load"]["rows_per_s"],
        "load peak memory, MB": r["load"]["rss_mb"],
    }
    for label in ("large", "small", "larger"):
        i = r["ingest"].get(label)
        if i is None:
            continue
        n = f"{i['rows']:,}"
        f[f"ingest {n}: sannong rows/s"] = i["sannong_rows_per_s"]
        f[f"ingest {n}: DuckDB rows/s"] = i["duckdb_rows_per_s"]
        f[f"ingest {n}: sannong ÷ DuckDB rows/s (goal ≥ 1)"] = i["ratio_rows_per_s"]
        f[f"ingest {n}: same, against DuckDB's COPY alone"] = i["duckdb_copy_only_s"] / i["sannong_s"]
        f[f"ingest {n}: sannong peak MB"] = i["sannong_rss_mb"]
        f[f"ingest {n}: DuckDB peak MB"] = i["duckdb_rss_mb"]
    if "larger" in r["ingest"]:
        large, larger = r["ingest"]["large"], r["ingest"]["larger"]
        f["ingest peak memory, 4× the rows ÷ 1× (goal: bounded, ≈ 1)"] = (
            larger["sannong_rss_mb"] / large["sannong_rss_mb"])
        f["same, DuckDB"] = larger["duckdb_rss_mb"] / large["duckdb_rss_mb"]
    s = r["scorecard"]
    f["scorecard: sannong kpi (CLI), s"] = s["sannong_cli_s"]
    f["scorecard: DuckDB process, s"] = s["duckdb_process_s"]
    f["scorecard CLI ratio sannong/DuckDB (goal ≤ 1.0)"] = s["ratio_cli"]
    f["scorecard: sannong GET /api/kpis, s"] = s["sannong_http_s"]
    f["scorecard: DuckDB 16 queries warm, s"] = s["duckdb_queries_s"]
    f["scorecard warm ratio sannong/DuckDB (goal ≤ 1.0)"] = s["ratio_http"]
    for name, q in r["queries"].items():
        if name.startswith("_"):
            continue
        f[f"{name}: sannong HTTP, s"] = q["sannong_http_s"]
        f[f"{name}: DuckDB, s"] = q["duckdb_s"]
        f[f"{name}: ratio HTTP (goal ≤ 1.2)"] = q["ratio_http"]
        f[f"{name}: ratio psql (goal ≤ 1.2)"] = q["ratio_psql"]
    return f


def show(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, int) or (isinstance(v, float) and v >= 1000):
        return f"{v:,.0f}"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}"


def report(results: list[dict]) -> dict:
    tables = [figures(r) for r in results]
    scales = [r["scale"] for r in results]
    growth = {}
    head = ["figure"] + [f"scale {s}" for s in scales] + [f"×{scales[0]}→{s}" for s in scales[1:]]
    lines = [head]
    for name in tables[0]:
        values = [t.get(name) for t in tables]
        factors = [(v / values[0]) if v and values[0] else None for v in values[1:]]
        growth[name] = factors
        lines.append([name] + [show(v) for v in values] + [show(x) for x in factors])
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        s = r["scorecard"]
        print(f"\nscale {r['scale']}: KPI values {'agree' if s['values_agree'] else 'DIFFER'}"
              + "".join(f"\n  {d}" for d in s["differences"]))
        for name, q in r["queries"].items():
            if not name.startswith("_") and not q["answers_agree"]:
                print(f"  query '{name}' answers DIFFER: {q['difference']}")
        print(f"  ingest phases, {r['ingest']['large']['rows']:,} rows: "
              + ", ".join(f"{p} {t:.2f} s" for p, t in r["ingest"]["large"]["sannong_phases_s"].items()))
    return {"figures": dict(zip(map(str, scales), tables)), "growth": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--sannong", default=str(TARGET / "release/sannong"))
    parser.add_argument("--sample-county", default=str(TARGET / "release/sample-county"))
    parser.add_argument("--out", default=str(ROOT / "docs/bench-results.json"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median)")
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--ingest-repeat", type=int, default=3, help="runs of the large ingest")
    parser.add_argument("--ingest-larger", action=argparse.BooleanOptionalAction, default=True,
                        help="also ingest four times the rows once (peak memory against file size)")
    args = parser.parse_args()
    import duckdb

    results = []
    for scale in [int(s) for s in args.scales.split(",")]:
        with tempfile.TemporaryDirectory(prefix=f"sannong-bench-{scale}-") as work:
            results.append(bench_scale(args, scale, Path(work)))
    summary = report(results)
    version = subprocess.run([args.sannong, "--version"], capture_output=True, text=True).stdout.strip()
    document = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "command": "scripts/bench.sh " + " ".join(sys.argv[1:]),
        "sannong": version,
        "duckdb": duckdb.__version__,
        "results": results,
        **summary,
        "plugin_overhead": "not re-measured: see docs/performance.md (cargo bench -p sannong --bench plugins)",
    }
    Path(args.out).write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
