using CdcPipeline.Consumer;
using DownstreamBilling;
using Npgsql;

// downstream-billing --connection "Host=…;Database=billing" --events out/events.jsonl [--follow]
//
// Reads the pipeline's JSON-lines output (a file sink) from the beginning and applies every order
// event to billing_orders through the idempotent consumer. It keeps no read offset on purpose:
// after a restart it reads the whole file again and every event it already applied is a duplicate.
string? connection = null;
string? events = null;
var follow = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--connection" when i + 1 < args.Length:
            connection = args[++i];
            break;
        case "--events" when i + 1 < args.Length:
            events = args[++i];
            break;
        case "--follow":
            follow = true;
            break;
        default:
            await Console.Error.WriteLineAsync($"unknown argument '{args[i]}'; usage: downstream-billing --connection CONNSTRING --events FILE [--follow]").ConfigureAwait(false);
            return 2;
    }
}

if (connection is null || events is null)
{
    await Console.Error.WriteLineAsync("usage: downstream-billing --connection CONNSTRING --events FILE [--follow]").ConfigureAwait(false);
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

await using var dataSource = NpgsqlDataSource.Create(connection);
var consumer = new IdempotentConsumer(dataSource, BillingProjection.ConsumerName);
await consumer.EnsureSchemaAsync(stop.Token).ConfigureAwait(false);
await using (var schema = dataSource.CreateCommand(BillingProjection.SchemaSql))
{
    await schema.ExecuteNonQueryAsync(stop.Token).ConfigureAwait(false);
}

// The handler named as a service stores it (a field, an option, a DI registration): under implicit usings the type's
// name must not clash with System's.
ConsumedEventHandler handler = BillingProjection.HandleAsync;
var (applied, duplicates) = (0, 0);
try
{
    await foreach (var evt in JsonLinesEvents.ReadAsync(events, follow, stop.Token).ConfigureAwait(false))
    {
        var result = await consumer.HandleAsync(evt, handler, stop.Token).ConfigureAwait(false);
        _ = result == HandleResult.Applied ? applied++ : duplicates++;
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
}

await Console.Out.WriteLineAsync($"billing: {applied} event(s) applied, {duplicates} duplicate(s) skipped").ConfigureAwait(false);
return 0;
