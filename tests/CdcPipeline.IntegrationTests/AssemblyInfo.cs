// Integration tests share servers (one PostgreSQL cluster, one mock Kafka cluster); each test uses
// unique slot / publication / topic names, so collections may run in parallel.
[assembly: CaptureConsole]
