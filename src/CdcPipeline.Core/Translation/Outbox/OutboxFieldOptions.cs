using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Core.Translation.Outbox;

/// <summary>Column names of the outbox table (Debezium's defaults).</summary>
public sealed class OutboxFieldOptions
{
    [Required(AllowEmptyStrings = false)]
    public string Id { get; set; } = "id";

    [Required(AllowEmptyStrings = false)]
    public string Key { get; set; } = "aggregateid";

    [Required(AllowEmptyStrings = false)]
    public string Type { get; set; } = "type";

    [Required(AllowEmptyStrings = false)]
    public string Payload { get; set; } = "payload";

    /// <summary>Optional column for the event time; without it, the commit time.</summary>
    public string? Timestamp { get; set; }
}
