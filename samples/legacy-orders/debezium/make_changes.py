#!/usr/bin/env python3
"""Writes changes.jsonl: what `kcat -C -J` prints for the topics a Debezium PostgreSQL connector
(pgoutput, topic.prefix=legacy, JsonConverter with schemas, provide.transaction.metadata=true,
heartbeat.interval.ms set) writes for the sample scenario below. Hand-built to Debezium 2.7's exact
record shapes (no Kafka/Debezium runs here); re-run after editing: python3 make_changes.py > changes.jsonl
"""
import base64, datetime, json

PREFIX = "legacy"
VERSION = "2.7.3.Final"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(text):  # TIMESTAMP (no zone) -> io.debezium.time.MicroTimestamp
    d = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)
    return (d - EPOCH) // datetime.timedelta(microseconds=1)


def dec(unscaled):  # Connect Decimal: big-endian two's-complement unscaled value, base64 in JSON
    n = (unscaled.bit_length() + 8) // 8
    return base64.b64encode(unscaled.to_bytes(n, "big", signed=True)).decode()


def s(field, optional=False, default=None):
    f = {"type": "string", "optional": optional}
    if default is not None:
        f["default"] = default
    f["field"] = field
    return f


def numeric(field, precision, scale, optional=False):
    return {"type": "bytes", "optional": optional, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": {"scale": str(scale), "connect.decimal.precision": str(precision)}, "field": field}


def ts(field, optional=False):
    return {"type": "int64", "optional": optional, "name": "io.debezium.time.MicroTimestamp", "version": 1, "field": field}


def i(kind, field, optional=False):
    return {"type": kind, "optional": optional, "field": field}


TABLES = {
    "tb_cust_mst": ([s("cust_no"), s("cust_nm"), s("cust_addr1", True), s("cust_addr2", True), s("cust_zip", True),
                     s("reg_dt"), s("del_flg", default="N"), ts("upd_ts")], ["cust_no"]),
    "tb_ord_mst": ([numeric("ord_no", 10, 0), s("cust_no"), s("ord_dt"), s("ord_sts_cd", default="P"),
                    numeric("ord_amt", 12, 2), s("shp_dt", default="        "), s("ord_memo", True), ts("upd_ts")], ["ord_no"]),
    "tb_ord_dtl": ([numeric("ord_no", 10, 0), i("int16", "ln_no"), s("itm_cd"), i("int32", "qty"), numeric("unt_prc", 12, 2)],
                   ["ord_no", "ln_no"]),
    "tb_aud_log": ([ts("log_ts"), s("usr_id"), s("act_cd"), s("log_msg", True)], []),
}

SOURCE_SCHEMA = {"type": "struct", "fields": [
    s("version"), s("connector"), s("name"), i("int64", "ts_ms"),
    {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
     "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
     "default": "false", "field": "snapshot"},
    s("db"), s("sequence", True), i("int64", "ts_us", True), i("int64", "ts_ns", True), s("schema"), s("table"),
    i("int64", "txId", True), i("int64", "lsn", True), i("int64", "xmin", True)],
    "optional": False, "name": "io.debezium.connector.postgresql.Source", "version": 1, "field": "source"}

BLOCK_SCHEMA = {"type": "struct", "fields": [s("id"), i("int64", "total_order"), i("int64", "data_collection_order")],
                "optional": True, "name": "event.block", "version": 1, "field": "transaction"}


def value_struct(table, field):
    cols, _ = TABLES[table]
    return {"type": "struct", "fields": cols, "optional": True, "name": f"{PREFIX}.public.{table}.Value", "field": field}


def envelope_schema(table):
    return {"type": "struct", "fields": [value_struct(table, "before"), value_struct(table, "after"), SOURCE_SCHEMA, BLOCK_SCHEMA,
                                         s("op"), i("int64", "ts_ms", True), i("int64", "ts_us", True), i("int64", "ts_ns", True)],
            "optional": False, "name": f"{PREFIX}.public.{table}.Envelope", "version": 2}


def key_schema(table):
    cols, key = TABLES[table]
    return {"type": "struct", "fields": [c for c in cols if c["field"] in key], "optional": False,
            "name": f"{PREFIX}.public.{table}.Key"}


def dumps(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


offsets = {}
lines = []


def emit(topic, key, value, ts_ms):
    off = offsets.get(topic, 0)
    offsets[topic] = off + 1
    lines.append(dumps({"topic": topic, "partition": 0, "offset": off, "tstype": "create", "ts": ts_ms, "broker": 1,
                        "key": None if key is None else dumps(key), "payload": None if value is None else dumps(value)}))


def ms(text):
    return (datetime.datetime.fromisoformat(text) - EPOCH) // datetime.timedelta(milliseconds=1)


class Tx:
    def __init__(self, txid, lsn, commit, captured):
        self.txid, self.lsn, self.commit, self.captured = txid, lsn, commit, captured
        self.id = f"{txid}:{lsn}"
        self.total = 0
        self.per = {}

    def begin(self):
        emit(f"{PREFIX}.transaction", tx_key(self.id), tx_value("BEGIN", self.id, None, None, ms(self.captured)), ms(self.captured))

    def end(self):
        cols = [{"data_collection": f"public.{t}", "event_count": n} for t, n in self.per.items()]
        emit(f"{PREFIX}.transaction", tx_key(self.id), tx_value("END", self.id, self.total, cols, ms(self.captured) + 3),
             ms(self.captured) + 3)


def tx_key(id):
    return {"schema": {"type": "struct", "fields": [s("id")], "optional": False,
                       "name": "io.debezium.connector.common.TransactionMetadataKey"}, "payload": {"id": id}}


def tx_value(status, id, count, cols, ts_ms):
    schema = {"type": "struct", "fields": [
        s("status"), s("id"), i("int64", "event_count", True),
        {"type": "array", "items": {"type": "struct", "fields": [s("data_collection"), i("int64", "event_count")], "optional": False},
         "optional": True, "field": "data_collections"},
        i("int64", "ts_ms")], "optional": False, "name": "io.debezium.connector.common.TransactionMetadataValue", "version": 1}
    return {"schema": schema, "payload": {"status": status, "id": id, "event_count": count, "data_collections": cols, "ts_ms": ts_ms}}


last_commit_lsn = [None]


def change(table, op, before, after, *, lsn, txid, commit, captured, snapshot="false", tx=None, seq_last=None):
    cols, key = TABLES[table]
    row = after if after is not None else before
    key_value = None if not key else {"schema": key_schema(table), "payload": {k: row[k] for k in key}}
    commit_ms = ms(commit)
    commit_us = micros(commit.replace("Z", ""))
    source = {"version": VERSION, "connector": "postgresql", "name": PREFIX, "ts_ms": commit_ms, "snapshot": snapshot, "db": "legacy",
              "sequence": dumps([seq_last, str(lsn)]), "ts_us": commit_us, "ts_ns": commit_us * 1000, "schema": "public",
              "table": table, "txId": txid, "lsn": lsn, "xmin": None}
    block = None
    if tx is not None:
        tx.total += 1
        tx.per[table] = tx.per.get(table, 0) + 1
        block = {"id": tx.id, "total_order": tx.total, "data_collection_order": tx.per[table]}
    cap_ms = ms(captured)
    cap_us = micros(captured.replace("Z", ""))
    value = {"schema": envelope_schema(table), "payload": {"before": before, "after": after, "source": source, "transaction": block,
                                                           "op": op, "ts_ms": cap_ms, "ts_us": cap_us, "ts_ns": cap_us * 1000}}
    emit(f"{PREFIX}.public.{table}", key_value, value, cap_ms)
    return key_value


def heartbeat(at):
    key = {"schema": {"type": "struct", "fields": [s("serverName")], "optional": False,
                      "name": "io.debezium.connector.common.ServerNameKey"}, "payload": {"serverName": PREFIX}}
    value = {"schema": {"type": "struct", "fields": [i("int64", "ts_ms")], "optional": False,
                        "name": "io.debezium.connector.common.Heartbeat"}, "payload": {"ts_ms": ms(at)}}
    emit(f"__debezium-heartbeat.{PREFIX}", key, value, ms(at))


# --- the seed rows, as the initial snapshot reads them -------------------------------------------
c1 = {"cust_no": "C0000001", "cust_nm": "Hanna Berger", "cust_addr1": "12 Mill Lane", "cust_addr2": None, "cust_zip": "1010   ",
      "reg_dt": "19980312", "del_flg": "N", "upd_ts": micros("2024-02-28T17:42:10.512344")}
c2 = {"cust_no": "C0000002", "cust_nm": "Otto Lindqvist", "cust_addr1": "4 Harbour Rd", "cust_addr2": None, "cust_zip": "2020   ",
      "reg_dt": "20010705", "del_flg": "N", "upd_ts": micros("2024-02-28T17:42:10.512344")}
o1 = {"ord_no": dec(1000001), "cust_no": "C0000001", "ord_dt": "20240102", "ord_sts_cd": "S", "ord_amt": dec(14990),
      "shp_dt": "        ", "ord_memo": "first order", "upd_ts": micros("2024-02-28T17:42:10.519870")}
o2 = {"ord_no": dec(1000002), "cust_no": "C0000002", "ord_dt": "20240215", "ord_sts_cd": "P", "ord_amt": dec(1250),
      "shp_dt": "        ", "ord_memo": None, "upd_ts": micros("2024-02-28T17:42:10.519870")}

SNAP = dict(lsn=24023040, txid=770, commit="2024-03-01T08:00:00.412Z", seq_last=None)
change("tb_cust_mst", "r", None, c1, captured="2024-03-01T08:00:00.431Z", snapshot="first", **SNAP)
change("tb_cust_mst", "r", None, c2, captured="2024-03-01T08:00:00.433Z", snapshot="last_in_data_collection", **SNAP)
change("tb_ord_mst", "r", None, o1, captured="2024-03-01T08:00:00.447Z", snapshot="first_in_data_collection", **SNAP)
change("tb_ord_mst", "r", None, o2, captured="2024-03-01T08:00:00.448Z", snapshot="last", **SNAP)

# --- streaming ---------------------------------------------------------------------------------
# T771: a new customer registers.
t = Tx(771, 24023312, "2024-03-01T09:15:02.481Z", "2024-03-01T09:15:02.733Z"); t.begin()
c3 = {"cust_no": "C0000003", "cust_nm": "Mirela Costa", "cust_addr1": "88 Quay Street", "cust_addr2": "Flat 2", "cust_zip": "3030   ",
      "reg_dt": "20240301", "del_flg": "N", "upd_ts": micros("2024-03-01T09:15:02.480611")}
change("tb_cust_mst", "c", None, c3, lsn=24023480, txid=771, commit=t.commit, captured="2024-03-01T09:15:02.735Z", tx=t,
       seq_last="24023040"); t.end()

heartbeat("2024-03-01T09:15:10.000Z")

# T772: customer C0000002 moves (tb_cust_mst has REPLICA IDENTITY FULL: the before image is complete).
t = Tx(772, 24023856, "2024-03-01T09:20:41.117Z", "2024-03-01T09:20:41.352Z"); t.begin()
c2b = dict(c2, cust_addr1="17 Ferry Road", cust_zip="2040   ", upd_ts=micros("2024-03-01T09:20:41.116902"))
change("tb_cust_mst", "u", c2, c2b, lsn=24024024, txid=772, commit=t.commit, captured="2024-03-01T09:20:41.354Z", tx=t,
       seq_last="24023480"); t.end()

# T773: C0000003 places an order with two lines; the application writes its audit row in the same transaction.
MEMO = ("Customer called twice before ordering. " +
        " ".join(f"Note {n:03d}: deliver to the side entrance, ring bell {n % 7 + 1}, leave with neighbour at no. {n % 40 + 2} if absent;"
                 for n in range(1, 41)) + " Invoice monthly.")
t = Tx(773, 24024400, "2024-03-01T10:02:17.904Z", "2024-03-01T10:02:18.140Z"); t.begin()
o3 = {"ord_no": dec(1000003), "cust_no": "C0000003", "ord_dt": "20240301", "ord_sts_cd": "P", "ord_amt": dec(25870),
      "shp_dt": "        ", "ord_memo": MEMO, "upd_ts": micros("2024-03-01T10:02:17.899214")}
change("tb_ord_mst", "c", None, o3, lsn=24024568, txid=773, commit=t.commit, captured="2024-03-01T10:02:18.142Z", tx=t,
       seq_last="24024024")
d1 = {"ord_no": dec(1000003), "ln_no": 1, "itm_cd": "WID-0042  ", "qty": 3, "unt_prc": dec(4990)}
d2 = {"ord_no": dec(1000003), "ln_no": 2, "itm_cd": "GAD-7     ", "qty": 1, "unt_prc": dec(10900)}
change("tb_ord_dtl", "c", None, d1, lsn=24028816, txid=773, commit=t.commit, captured="2024-03-01T10:02:18.143Z", tx=t,
       seq_last="24024024")
change("tb_ord_dtl", "c", None, d2, lsn=24029024, txid=773, commit=t.commit, captured="2024-03-01T10:02:18.143Z", tx=t,
       seq_last="24024024")
a1 = {"log_ts": micros("2024-03-01T10:02:17.903377"), "usr_id": "WEBSHOP ", "act_cd": "OI", "log_msg": "order 1000003 entered"}
change("tb_aud_log", "c", None, a1, lsn=24029232, txid=773, commit=t.commit, captured="2024-03-01T10:02:18.144Z", tx=t,
       seq_last="24024024"); t.end()

# T774: order 1000002 ships (P -> S, shp_dt filled). tb_ord_mst has REPLICA IDENTITY DEFAULT: no before image.
t = Tx(774, 24029600, "2024-03-02T07:45:00.256Z", "2024-03-02T07:45:00.498Z"); t.begin()
o2s = dict(o2, ord_sts_cd="S", shp_dt="20240302", upd_ts=micros("2024-03-02T07:45:00.255480"))
change("tb_ord_mst", "u", None, o2s, lsn=24029768, txid=774, commit=t.commit, captured="2024-03-02T07:45:00.500Z", tx=t,
       seq_last="24029232"); t.end()

# T775: the amount of 1000003 is corrected; the TOASTed memo is unchanged, so pgoutput does not send it.
t = Tx(775, 24030136, "2024-03-02T08:10:33.671Z", "2024-03-02T08:10:33.902Z"); t.begin()
o3a = dict(o3, ord_amt=dec(24870), ord_memo="__debezium_unavailable_value", upd_ts=micros("2024-03-02T08:10:33.670015"))
change("tb_ord_mst", "u", None, o3a, lsn=24030304, txid=775, commit=t.commit, captured="2024-03-02T08:10:33.904Z", tx=t,
       seq_last="24029768"); t.end()

heartbeat("2024-03-02T08:10:40.000Z")

# T776: 1000003 is cancelled (P -> C); the memo is still unchanged.
t = Tx(776, 24030672, "2024-03-02T11:31:09.005Z", "2024-03-02T11:31:09.240Z"); t.begin()
o3c = dict(o3a, ord_sts_cd="C", upd_ts=micros("2024-03-02T11:31:09.004127"))
change("tb_ord_mst", "u", None, o3c, lsn=24030840, txid=776, commit=t.commit, captured="2024-03-02T11:31:09.242Z", tx=t,
       seq_last="24030304"); t.end()

# T777: order 1000001 is purged. REPLICA IDENTITY DEFAULT: pgoutput sends only the key; Debezium fills the
# other NOT NULL columns of 'before' with their schema default or type fallback ("", 0), nullable ones with null.
# Then a tombstone (null value) lets log compaction drop the key.
t = Tx(777, 24031208, "2024-03-03T06:00:12.340Z", "2024-03-03T06:00:12.577Z"); t.begin()
o1d = {"ord_no": dec(1000001), "cust_no": "", "ord_dt": "", "ord_sts_cd": "P", "ord_amt": dec(0), "shp_dt": "        ",
       "ord_memo": None, "upd_ts": 0}
key = change("tb_ord_mst", "d", o1d, None, lsn=24031376, txid=777, commit=t.commit, captured="2024-03-03T06:00:12.579Z", tx=t,
             seq_last="24030840")
emit(f"{PREFIX}.public.tb_ord_mst", key, None, ms("2024-03-03T06:00:12.579Z"))
t.end()

print("\n".join(lines))
