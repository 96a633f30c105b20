-- A few rows that exist before capture starts: the initial snapshot reads them.
INSERT INTO tb_cust_mst (cust_no, cust_nm, cust_addr1, cust_zip, reg_dt) VALUES
    ('C0000001', 'Hanna Berger',  '12 Mill Lane',  '1010   ', '19980312'),
    ('C0000002', 'Otto Lindqvist', '4 Harbour Rd', '2020   ', '20010705')
ON CONFLICT DO NOTHING;
INSERT INTO tb_ord_mst (ord_no, cust_no, ord_dt, ord_sts_cd, ord_amt, ord_memo) VALUES
    (1000001, 'C0000001', '20240102', 'S', 149.90, 'first order'),
    (1000002, 'C0000002', '20240215', 'P', 12.50, NULL)
ON CONFLICT DO NOTHING;
