using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>One domain event per row change: <c>{Table}Changed</c>, subject = the key's first column, data = the after image.</summary>
internal sealed class TestTranslator : IChangeTranslator, ITranslatorProvider
{
    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        var key = change.Key is { Count: > 0 } k ? Convert.ToString(k[0], System.Globalization.CultureInfo.InvariantCulture) : null;
        output.Add(new DomainEvent
        {
            Id = EventIds.For(change.Position, "test"),
            Type = string.Concat(change.Source.Table ?? "row", "Changed"),
            Source = "/cdc/test/" + change.Source.QualifiedTable,
            Subject = key,
            AggregateType = change.Source.Table,
            Time = change.Source.CommitTime is { } t ? t.ToDateTimeOffset() : null,
            Data = change.After ?? change.Before,
            RuleId = "test",
            Position = change.Position,
            Change = change,
        });
    }

    public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => this;
}
