// Integration tests share servers (one PostgreSQL cluster, one mock Kafka cluster); each test uses
// unique slot / publication / topic names, so collections may run in parallel.
[assembly: CaptureConsole]

// Most of these tests wait (on PostgreSQL, the mock cluster, a child `run` process), not compute: with xunit's default of
// one collection per CPU, a 2-core runner spent ~3.5 minutes of CPU in this assembly's ~16 minutes. Four collections at a time
// keep the CPU busy without outgrowing the shared server (max_replication_slots = 20 in scripts/pg-start.sh; a test holds
// one or two slots). A fixed number, not a multiple of the cores: the limit is the shared servers, not the CPU.
[assembly: Xunit.v3.Parallelization(MaxThreads = 4)]
