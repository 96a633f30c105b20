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
}
