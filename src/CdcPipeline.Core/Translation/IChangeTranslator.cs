using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>
/// Turns one change into zero or more domain events. Rule files implement it; a C# class implements it
/// where rules cannot say what is needed. Must be deterministic: the same change gives the same events
/// (ids included), so that a replay is safe for downstream de-duplication.
/// </summary>
public interface IChangeTranslator
{
    /// <summary>Appends the events <paramref name="change"/> produces to <paramref name="output"/>.</summary>
    void Translate(ChangeEvent change, ICollection<DomainEvent> output);
}
