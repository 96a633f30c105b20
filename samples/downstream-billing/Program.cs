using DownstreamBilling;

// downstream-billing --connection "Host=…;Database=billing" --events out/events.jsonl [--follow]
//
// Reads the pipeline's JSON-lines output (a file sink) from the beginning and applies every order
// event to billing_orders through the idempotent consumer. It keeps no read offset on purpose:
// after a restart it reads the whole file again and every event it already applied is a duplicate.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

return await BillingApp.RunAsync(args, Console.Out, Console.Error, stop.Token).ConfigureAwait(false);
