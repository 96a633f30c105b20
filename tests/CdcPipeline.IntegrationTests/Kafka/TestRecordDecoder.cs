using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Kafka.Source;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>Any record becomes a change carrying its value as text in <c>after.v</c>: for tests about the consumer loop, not decoding.</summary>
internal sealed class TestRecordDecoder : IKafkaRecordDecoder
{
    public ValueTask<ChangeEvent> DecodeAsync(DebeziumRecord record, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Create,
            Source = new SourceInfo { Topic = record.Topic, Schema = "public", Table = "t" },
            Position = record.Position,
            Key = record.Key is { } k ? Row.From(("k", System.Text.Encoding.UTF8.GetString(k.Span))) : null,
            After = Row.From(("v", record.Value is { } v ? System.Text.Encoding.UTF8.GetString(v.Span) : null)),
            Raw = record.Value,
        });
}
