using System.Text;

namespace CdcPipeline.Core.Changes;

/// <summary>
/// A text column value still held as the UTF-8 it was decoded from (<see cref="Debezium.ConnectJsonReader"/>). A
/// <see cref="Row"/> keeps it in place of a string until something reads the column, and then keeps the string:
/// a long text nobody reads (a memo the rules do not use) is never made UTF-16, and the canonical JSON that names
/// the change writes its bytes as they are. Never visible outside <see cref="Row"/>: every read returns the string.
/// </summary>
internal sealed class Utf8Text
{
    private readonly ReadOnlyMemory<byte> _utf8;

    /// <param name="utf8">Valid UTF-8 (checked by the caller), in a buffer of its own that nothing writes to again.</param>
    public Utf8Text(ReadOnlyMemory<byte> utf8)
    {
        _utf8 = utf8;
    }

    public ReadOnlySpan<byte> Span => _utf8.Span;

    public override string ToString() => Encoding.UTF8.GetString(_utf8.Span);
}
