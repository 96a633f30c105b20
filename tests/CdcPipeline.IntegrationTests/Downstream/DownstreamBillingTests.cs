using System.Net;
using System.Net.Sockets;
using DownstreamBilling;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>The downstream-billing sample as its user runs it.</summary>
public sealed class DownstreamBillingTests
{
    [Fact]
    public async Task A_database_that_cannot_be_reached_is_one_line_naming_it_without_the_password_and_a_non_zero_exit()
    {
        // A port nothing listens on: taken from the system, then given back.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var events = Path.GetTempFileName();
        try
        {
            var (output, error) = (new StringWriter(), new StringWriter());
            var exit = await BillingApp.RunAsync(
                ["--connection", $"Host=127.0.0.1;Port={port};Username=billing_svc;Password=hunter2secret;Database=billing;Timeout=5", "--events", events],
                output, error, TestContext.Current.CancellationToken);

            Assert.NotEqual(0, exit);
            var text = error.ToString().TrimEnd();
            Assert.DoesNotContain('\n', text);
            Assert.Contains($"127.0.0.1:{port}", text, StringComparison.Ordinal);
            Assert.Contains("billing", text, StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2secret", text, StringComparison.Ordinal);
            Assert.Contains("check that the server runs", text, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(events);
        }
    }

    [Fact]
    public async Task Following_a_file_a_complete_malformed_line_is_reported_and_skipped_and_the_next_line_is_read()
    {
        // A line ending in \n is complete: held as if torn, it was glued to the next line, and both were lost.
        var events = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(events, Event(1) + "\n" + "{\"specversion\":\"1.0\",\"id\": nope}\n" + Event(3) + "\n", Ct);
            var error = new StringWriter();

            var ids = await FollowAsync(events, error, count: 2);

            Assert.Equal(["e1", "e3"], ids);
            var said = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"{events}: line 2: skipping a line that is not a CloudEvent: ", said, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(events);
        }
    }

    [Fact]
    public async Task Following_a_file_a_torn_last_line_is_read_once_the_writer_ends_it()
    {
        var events = Path.GetTempFileName();
        try
        {
            var second = Event(2);
            await File.WriteAllTextAsync(events, Event(1) + "\n" + second[..20], Ct);
            var error = new StringWriter();
            var reading = FollowAsync(events, error, count: 2);
            await Task.Delay(TimeSpan.FromSeconds(1), Ct);
            await File.AppendAllTextAsync(events, second[20..] + "\n", Ct);

            Assert.Equal(["e1", "e2"], await reading);
            Assert.Empty(error.ToString());
        }
        finally
        {
            File.Delete(events);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Event(int n) =>
        $$"""{"specversion":"1.0","id":"e{{n}}","type":"OrderPlaced","source":"/cdc/legacy","subject":"o{{n}}","data":{"amount":1} }""";

    /// <summary>The ids of the first <paramref name="count"/> events read with --follow, or of those read within 10 s.</summary>
    private static async Task<List<string>> FollowAsync(string path, TextWriter error, int count)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(TimeSpan.FromSeconds(10));
        var ids = new List<string>();
        try
        {
            await foreach (var evt in JsonLinesEvents.ReadAsync(path, follow: true, error, stop.Token))
            {
                ids.Add(evt.Id);
                if (ids.Count == count)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !Ct.IsCancellationRequested)
        {
        }

        return ids;
    }
}
