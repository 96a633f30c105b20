namespace CdcPipeline.Core.Changes;

/// <summary>A BIT / BIT VARYING value as its digits, most significant first (<c>"1011"</c>), as PostgreSQL prints it.</summary>
public sealed record BitString(string Bits)
{
    public override string ToString() => Bits;
}
