using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Tests.Support;

/// <summary>One event per change, typed by the status column; throws for status "X" (a poison change).</summary>
public sealed class StatusTranslator : IChangeTranslator
{
    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        var status = (string)change.After!["ord_sts_cd"]!;
        if (status == "X")
        {
            throw new InvalidOperationException("status X cannot be translated");
        }

        var kind = status == "CMD" ? DomainEventKind.Command : DomainEventKind.Event;
        output.Add(new DomainEvent
        {
            Id = EventIds.For(change.Position, "status"),
            Type = "Status" + status,
            Source = "/test",
            Subject = (string)change.Key!["ord_no"]!,
            Data = change.After,
            Kind = kind,
            Target = kind == DomainEventKind.Command ? (string?)change.After!.GetValueOrDefault("target") ?? "b" : null,
            Position = change.Position,
            Change = change,
        });
    }
}
