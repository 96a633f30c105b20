using System.Runtime.CompilerServices;
using System.Text;
using CdcPipeline.Consumer;

namespace DownstreamBilling;

/// <summary>Domain events from a pipeline file sink: one CloudEvents JSON object per line.</summary>
public static class JsonLinesEvents
{
    /// <summary>
    /// Yields each CloudEvent line; raw change lines (no <c>specversion</c>) are skipped, and a line that is not a
    /// CloudEvent is reported (with its line number) and skipped. With <paramref name="follow"/>, waits for lines
    /// appended later, like <c>tail -f</c>: the text after the last newline is a line the writer has not finished, read
    /// once its newline comes.
    /// </summary>
    /// <param name="errors">where a skipped line is reported (the command's standard error)</param>
    public static async IAsyncEnumerable<ConsumedEvent> ReadAsync(string path, bool follow, TextWriter errors, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        var buffer = new char[16 * 1024];
        // Only a newline ends a line: what follows the last one is torn (the writer is mid-line), never a line of its own
        // to parse, or to glue to the next complete line.
        var torn = new StringBuilder();
        var lines = new List<string>();
        var number = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var read = await reader.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (read == 0 && follow)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (read == 0 && torn.Length > 0)
            {
                // Without --follow nothing more comes: the file's last line, though it has no newline.
                lines.Add(torn.ToString());
                torn.Clear();
            }

            Split(buffer.AsSpan(0, read), torn, lines);
            foreach (var line in lines)
            {
                number++;
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
                    await errors.WriteLineAsync($"{path}: line {number}: skipping a line that is not a CloudEvent: {e.Message}").ConfigureAwait(false);
                    continue;
                }

                yield return evt;
            }

            lines.Clear();
            if (read == 0)
            {
                yield break;
            }
        }
    }

    /// <summary>Adds each line <paramref name="text"/> completes to <paramref name="lines"/> (CRLF read as LF); keeps the rest in <paramref name="torn"/>.</summary>
    private static void Split(ReadOnlySpan<char> text, StringBuilder torn, List<string> lines)
    {
        int newline;
        while ((newline = text.IndexOf('\n')) >= 0)
        {
            var line = text[..newline];
            if (torn.Length > 0)
            {
                line = torn.Append(line).ToString();
                torn.Clear();
            }

            lines.Add(line.TrimEnd('\r').ToString());
            text = text[(newline + 1)..];
        }

        torn.Append(text);
    }
}
