using System.Text.Json;
using System.Text.Json.Serialization;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// What describes a batch file, uploaded next to it (after it: a manifest's presence says the data
/// file is complete). Holds nothing that changes between builds, so re-building or re-sending a batch
/// gives a byte-identical manifest.
/// </summary>
public sealed record BatchManifest
{
    /// <summary><c>{pipeline}-{sink}-{intervalStart:yyyyMMdd'T'HHmmss'Z'}</c>: the same interval always has the same id.</summary>
    public required string BatchId { get; init; }

    public required string Pipeline { get; init; }

    public required string Sink { get; init; }

    /// <summary>The data file's name at the target.</summary>
    public required string File { get; init; }

    public required DateTimeOffset IntervalStart { get; init; }

    public required DateTimeOffset IntervalEnd { get; init; }

    /// <summary>Which clock put events into the interval: <c>arrival</c> (when the sink accepted them).</summary>
    public required string TimeBasis { get; init; }

    public required int Count { get; init; }

    /// <summary>Lower-case hex SHA-256 of the data file's bytes.</summary>
    public required string Sha256 { get; init; }

    public required long Bytes { get; init; }

    public string? FirstPosition { get; init; }

    public string? LastPosition { get; init; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public byte[] ToUtf8Json() => JsonSerializer.SerializeToUtf8Bytes(this, JsonOptions);

    public static BatchManifest FromUtf8Json(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize<BatchManifest>(json, JsonOptions) ?? throw new FormatException("the batch manifest is empty");
}
