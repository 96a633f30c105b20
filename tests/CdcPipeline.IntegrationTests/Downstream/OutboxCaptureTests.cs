using CdcPipeline.Consumer.Outbox;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Outbox;
using CdcPipeline.IntegrationTests.Postgres;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>An outbox table read through the embedded pgoutput capture and translated like Debezium's Outbox Event Router.</summary>
public sealed class OutboxCaptureTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task Outbox_inserts_captured_from_the_WAL_become_events_and_deletes_and_rolled_back_rows_do_not()
    {
        await Db.ExecuteAsync(OutboxWriter.SchemaSql());
        await using var reader = await OpenStreamingAsync(Options(["public.outbox"]));
        var writer = new OutboxWriter(serializeCommits: false); // the WAL gives commit order by itself

        Guid kept;
        Guid shortLived;
        await using (var connection = new NpgsqlConnection(Db.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using (var tx = await connection.BeginTransactionAsync(Ct))
            {
                kept = await writer.AddAsync(connection, tx, Message("Order", "1001", "OrderPlaced", "{\"orderId\": 1001, \"total\": \"12.50\"}"), Ct);
                await tx.CommitAsync(Ct);
            }

            // Debezium's recommended pattern: insert and delete in the same transaction, so the table stays empty.
            await using (var tx = await connection.BeginTransactionAsync(Ct))
            {
                shortLived = await writer.AddAsync(connection, tx, Message("Customer", "C1", "CustomerRegistered", "{\"name\": \"Ada\"}"), Ct);
                await using var delete = new NpgsqlCommand("DELETE FROM outbox WHERE id = $1", connection, tx);
                delete.Parameters.AddWithValue(shortLived);
                await delete.ExecuteNonQueryAsync(Ct);
                await tx.CommitAsync(Ct);
            }

            await using (var tx = await connection.BeginTransactionAsync(Ct))
            {
                await writer.AddAsync(connection, tx, Message("Order", "9999", "OrderPlaced", "{}"), Ct);
                await tx.RollbackAsync(Ct);
            }

            await using (var tx = await connection.BeginTransactionAsync(Ct))
            {
                await writer.AddAsync(connection, tx, Message("Order", "1001", "OrderShipped", "{\"orderId\": 1001}"), Ct);
                await tx.CommitAsync(Ct);
            }
        }

        var changes = await reader.TakeAsync(4);
        var translator = new OutboxTranslator("shop", new OutboxOptions());
        var events = new List<DomainEvent>();
        foreach (var change in changes.Where(c => c.Kind == ChangeKind.Change))
        {
            translator.Translate(change, events);
        }

        Assert.Equal(["OrderPlaced", "CustomerRegistered", "OrderShipped"], events.Select(e => e.Type));
        Assert.Equal(kept.ToString(), events[0].Id);
        Assert.Equal(shortLived.ToString(), events[1].Id);
        Assert.Equal("1001", events[0].Subject);
        Assert.Equal("Order", events[0].AggregateType);
        Assert.Equal("Customer", events[1].AggregateType);
        // The payload is the event's data as a JSON object (not a string holding JSON).
        using var json = System.Text.Json.JsonDocument.Parse(EventJson.Serialize(events[0]));
        var data = json.RootElement.GetProperty("data");
        Assert.Equal(1001, data.GetProperty("orderId").GetInt32());
        Assert.Equal("12.50", data.GetProperty("total").GetString());
        Assert.NotNull(events[0].Time);
    }

    [Theory]
    [InlineData("Outbox")]
    [InlineData("outbox")]
    [InlineData("Public.OUTBOX")]
    public async Task An_outbox_table_spelled_in_capitals_or_without_schema_routes_the_captured_rows(string spelling)
    {
        await Db.ExecuteAsync(OutboxWriter.SchemaSql());
        await using var reader = await OpenStreamingAsync(Options(["public.outbox"]));
        await using (var connection = new NpgsqlConnection(Db.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var tx = await connection.BeginTransactionAsync(Ct);
            await new OutboxWriter(serializeCommits: false).AddAsync(connection, tx, Message("Order", "1", "OrderPlaced", "{}"), Ct);
            await tx.CommitAsync(Ct);
        }

        var change = (await reader.TakeAsync(1)).Single();
        var events = new List<DomainEvent>();
        // PostgreSQL folds the unquoted name: the WAL carries the table as public.outbox.
        new OutboxTranslator("shop", new OutboxOptions { Table = spelling }).Translate(change, events);

        Assert.Equal("OrderPlaced", Assert.Single(events).Type);
    }

    private static OutboxMessage Message(string aggregateType, string aggregateId, string type, string payload) => new()
    {
        AggregateType = aggregateType,
        AggregateId = aggregateId,
        Type = type,
        PayloadJson = payload,
    };
}
