using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>Writes one JSON line per event to a text writer (standard output by default): for demos and dry runs.</summary>
public sealed class ConsoleSink : ISink
{
    private readonly TextWriter _output;

    public ConsoleSink(string name, TextWriter? output = null)
    {
        Name = name;
        _output = output ?? Console.Out;
    }

    public string Name { get; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        foreach (var e in batch)
        {
            await _output.WriteLineAsync(EventJson.Serialize(e).AsMemory(), cancellationToken).ConfigureAwait(false);
        }

        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => default;
}
