namespace CdcPipeline.Core.Changes;

/// <summary>A json/jsonb value, kept as its JSON text and written as the JSON value itself.</summary>
public sealed record RawJson(string Text)
{
    public override string ToString() => Text;
}
