namespace CdcPipeline.Core.Translation;

/// <summary>An event goes to every subscriber; a command to exactly one target.</summary>
public enum DomainEventKind
{
    Event,
    Command,
}
