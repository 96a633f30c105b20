using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Outbox;

/// <summary>
/// Puts the outbox in front of whatever else translates (rules, C# translators, pass-through): a change
/// of the outbox table goes to the <see cref="OutboxTranslator"/> only — its rows are events already,
/// and passing them through as raw changes as well would publish each one twice — and every other
/// change goes to the other translator.
/// </summary>
public sealed class OutboxRoutingTranslator : IChangeTranslator
{
    private readonly OutboxTranslator _outbox;
    private readonly IChangeTranslator _others;

    public OutboxRoutingTranslator(OutboxTranslator outbox, IChangeTranslator others)
    {
        _outbox = outbox;
        _others = others;
    }

    /// <summary>The translator of every change that is not the outbox's.</summary>
    public IChangeTranslator Others => _others;

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        if (_outbox.Handles(change))
        {
            _outbox.Translate(change, output);
        }
        else
        {
            _others.Translate(change, output);
        }
    }
}
