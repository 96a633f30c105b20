-- The sample legacy system: an order-entry application from the late 1990s, unchanged since.
-- Cryptic names, CHAR status codes, dates as CHAR(8) 'YYYYMMDD', blank-padded CHAR columns,
-- NUMERIC money, a free-text memo large enough to be TOASTed, and an audit table without a key.
-- CdcPipeline never alters these tables (replica identity aside, which `db prepare` only prints).

CREATE TABLE IF NOT EXISTS tb_cust_mst (          -- customer master
    cust_no     CHAR(8)       NOT NULL PRIMARY KEY, -- 'C0000001'
    cust_nm     VARCHAR(60)   NOT NULL,
    cust_addr1  VARCHAR(100),
    cust_addr2  VARCHAR(100),
    cust_zip    CHAR(7),                           -- blank-padded
    reg_dt      CHAR(8)       NOT NULL,            -- 'YYYYMMDD'
    del_flg     CHAR(1)       NOT NULL DEFAULT 'N',
    upd_ts      TIMESTAMP     NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tb_ord_mst (           -- order master
    ord_no      NUMERIC(10)   NOT NULL PRIMARY KEY,
    cust_no     CHAR(8)       NOT NULL REFERENCES tb_cust_mst (cust_no),
    ord_dt      CHAR(8)       NOT NULL,            -- 'YYYYMMDD'
    ord_sts_cd  CHAR(1)       NOT NULL DEFAULT 'P', -- P placed, S shipped, C cancelled
    ord_amt     NUMERIC(12,2) NOT NULL,
    shp_dt      CHAR(8)       NOT NULL DEFAULT '        ', -- blank until shipped
    ord_memo    TEXT,                              -- free text, often kilobytes: TOASTed
    upd_ts      TIMESTAMP     NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tb_ord_dtl (           -- order lines
    ord_no      NUMERIC(10)   NOT NULL REFERENCES tb_ord_mst (ord_no),
    ln_no       SMALLINT      NOT NULL,
    itm_cd      CHAR(10)      NOT NULL,            -- blank-padded item code
    qty         INTEGER       NOT NULL,
    unt_prc     NUMERIC(12,2) NOT NULL,
    PRIMARY KEY (ord_no, ln_no)
);

CREATE TABLE IF NOT EXISTS tb_aud_log (           -- audit log: no primary key, never had one
    log_ts      TIMESTAMP     NOT NULL DEFAULT now(),
    usr_id      CHAR(8)       NOT NULL,
    act_cd      CHAR(2)       NOT NULL,
    log_msg     VARCHAR(200)
);
