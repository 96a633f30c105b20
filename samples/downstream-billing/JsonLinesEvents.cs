using System.Runtime.CompilerServices;
using System.Text.Json;
using CdcPipeline.Consumer;

namespace DownstreamBilling;

/// <summary>Domain events from a pipeline file sink: one CloudEvents JSON object per line.</summary>
public static class JsonLinesEvents
{
    /// <summary>
    /// Yields each CloudEvent line; raw change lines (no <c>specversion</c>) and a torn last line are
    /// skipped. With <paramref name="follow"/>, waits for lines appended later, like <c>tail -f</c>.
    /// </summary>
    public static async IAsyncEnumerable<ConsumedEvent> ReadAsync(string path, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        var pending = "";
        while (!cancellationToken.IsCancellationRequested)
        {
            var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                if (!follow)
                {
                    yield break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
                continue;
            }

            var joined = pending.Length > 0;
            line = pending + line;
            pending = "";
            if (line.Length == 0 || !line.Contains("\"specversion\"", StringComparison.Ordinal))
            {
                continue;
            }

            ConsumedEvent evt;
            try
            {
                evt = ConsumedEvent.FromCloudEventJson(line);
            }
            catch (FormatException e)
            {
                if (follow && !joined)
                {
                    // Most likely the writer is mid-line: keep it and glue on what comes next.
                    pending = line;
                }
                else
                {
                    await Console.Error.WriteLineAsync($"{path}: skipping a line that is not a CloudEvent: {e.Message}").ConfigureAwait(false);
                }

                continue;
            }

            yield return evt;
        }
    }
}
