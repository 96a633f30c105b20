using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>replay</c> says to an operator who gives it the configuration of an embedded pipeline (source.postgres).</summary>
public class ReplayCommandEmbeddedTests
{
    [Theory]
    [InlineData("cdc.cdc_signal")]
    [InlineData(null)]
    public async Task An_embedded_pipeline_s_config_is_told_how_the_embedded_path_reads_again_not_to_find_a_broker(string? signalTable)
    {
        // An on-call operator asked to "replay since this morning" ran `replay --config pipeline.yaml --to …` on the
        // embedded path and was told the file "names no Kafka cluster …; give --bootstrap-servers": a hunt for a broker
        // this pipeline never had. It has no consumer group to reset; what it has is a re-snapshot (the signal) or a new
        // slot (when_needed), and the message must say so, with this pipeline's names.
        var directory = Directory.CreateTempSubdirectory("cdc-replay-embedded-");
        try
        {
            var config = Path.Combine(directory.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(config, $$"""
                name: shop
                source:
                  postgres:
                    connectionString: "Host=127.0.0.1;Username=cdc;Database=legacy"
                    publication: cdc_pub
                    slot: shop_slot
                    tables: [public.orders]
                {{(signalTable is null ? "" : $"    signalTable: {signalTable}")}}
                sinks:
                  - name: audit
                    file: { path: out/events.jsonl }
                """, TestContext.Current.CancellationToken);
            var root = new RootCommand();
            root.Subcommands.Add(ReplayCommand.Create());
            var (output, error) = (new StringWriter(), new StringWriter());
            var exit = await root.Parse(["replay", "--config", config, "--to", "earliest"]).InvokeAsync(
                new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

            Assert.Equal(2, exit);
            var said = error.ToString();
            Assert.DoesNotContain("give --bootstrap-servers", said, StringComparison.Ordinal);
            Assert.Contains("source.postgres", said, StringComparison.Ordinal);
            Assert.Contains("pipeline.yaml:3", said, StringComparison.Ordinal);
            Assert.Contains("slot drop shop_slot", said, StringComparison.Ordinal);
            Assert.Contains("snapshot: when_needed", said, StringComparison.Ordinal);
            Assert.Contains("shop_slot.snapshot.json", said, StringComparison.Ordinal);
            if (signalTable is null)
            {
                Assert.Contains("set source.postgres.signalTable", said, StringComparison.Ordinal);
            }
            else
            {
                // the statement the capture's own log lines give (PgOutputChangeSource.ResnapshotInstruction), runnable as it is
                Assert.Contains("""INSERT INTO "cdc"."cdc_signal" (id, type, data) VALUES ('resnapshot-public.orders-""", said, StringComparison.Ordinal);
                Assert.Contains("""'{"data-collections":["public.orders"]}'""", said, StringComparison.Ordinal);
            }

            Assert.Equal("", output.ToString());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
