using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using static CdcPipeline.Tests.Debezium.DebeziumJson;

namespace CdcPipeline.Tests.Debezium;

/// <summary>
/// A long text column (a memo) stays the UTF-8 it was decoded from until something reads it; whoever reads it, and
/// whatever writes it, sees exactly what the string would have given.
/// </summary>
public class LongTextDecodingTests
{
    private const string TextSchema = """{"type":"string","optional":true}""";

    [Fact]
    public void A_long_text_becomes_a_string_only_when_read()
    {
        var text = string.Concat(Enumerable.Repeat("Kunde rief zweimal an – Lieferung bitte vor 10 Uhr. ", 4000));
        var json = Encoding.UTF8.GetBytes(Value(TextSchema, JsonString(text)));
        var decoder = new DebeziumJsonDecoder();
        decoder.DecodeValue(json, 1, "srv.public.t"); // the schema is parsed and cached

        var before = GC.GetAllocatedBytesForCurrentThread();
        var change = decoder.DecodeValue(json, 2, "srv.public.t");
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The UTF-8 copy, not a UTF-16 string of twice its size.
        var utf8Length = Encoding.UTF8.GetByteCount(text);
        Assert.True(allocated < utf8Length + (text.Length / 2), $"decoding allocated {allocated} bytes for a {utf8Length}-byte text");

        var read = Assert.IsType<string>(change.After!["v"]);
        Assert.Equal(text, read);
        Assert.Same(read, change.After["v"]);

        // Every other way of reading a row sees the string too.
        Assert.Equal([text], decoder.DecodeValue(json, 3, "srv.public.t").After!.Values);
        Assert.Equal(text, decoder.DecodeValue(json, 4, "srv.public.t").After!.Single().Value);
        Assert.True(decoder.DecodeValue(json, 5, "srv.public.t").After!.TryGetValue("v", out var value) && text.Equals(value));
        Assert.Equal(text, decoder.DecodeValue(json, 6, "srv.public.t").After![0]);
    }

    public static TheoryData<string> Texts()
    {
        var data = new TheoryData<string>();

        // Every BMP scalar value, in runs long enough to be kept as UTF-8, written raw as Jackson writes non-ASCII.
        var bmp = Enumerable.Range(0, 0x10000).Where(c => c is < 0xD800 or > 0xDFFF).Select(c => (char)c).ToArray();
        foreach (var chunk in bmp.Chunk(4096))
        {
            data.Add(new string(chunk));
        }

        data.Add(string.Concat(Enumerable.Range(0x1F600, 80).Select(char.ConvertFromUtf32)) + "a\u2028b\u2029c\u007f\u0085\uFEFF<>&'+`");
        data.Add(string.Concat(Enumerable.Range(0, 0x100000 / 4096).Select(i => char.ConvertFromUtf32(0x10000 + (i * 4096) + 17))));
        data.Add(new string('x', 65));
        return data;
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Canonical_json_and_event_ids_of_a_long_text_are_the_same_bytes_whether_or_not_it_was_read(string text)
    {
        foreach (var literal in new[] { JsonString(text), JsonString(text, escapeAll: true) })
        {
            var json = Value(TextSchema, literal);
            var unread = Decode(json);
            var read = Decode(json);
            Assert.Equal(text, read.After!["v"]);

            Assert.Equal(Write(read.After, CanonicalJson.WriterOptions.Encoder), Write(unread.After!, CanonicalJson.WriterOptions.Encoder));
            Assert.Equal(Write(read.After, JavaScriptEncoder.Default), Write(unread.After!, JavaScriptEncoder.Default));
            Assert.Equal(Write(Row.From(("v", text)), CanonicalJson.WriterOptions.Encoder), Write(unread.After!, CanonicalJson.WriterOptions.Encoder));
            Assert.Equal(read.Origin, unread.Origin);
        }
    }

    [Fact]
    public void A_long_text_that_is_not_valid_utf8_still_fails_as_before()
    {
        var json = Encoding.UTF8.GetBytes(Value(TextSchema, JsonString(new string('a', 100) + "\u00e9")));
        var bad = Array.LastIndexOf(json, (byte)0xC3);
        json[bad] = 0xFF;
        var e = Assert.Throws<DebeziumDecodeException>(() => new DebeziumJsonDecoder().DecodeValue(json, 1, "srv.public.t"));
        Assert.Equal("after.v", e.FieldPath);

        var lone = Assert.Throws<DebeziumDecodeException>(() => Decode(Value(TextSchema, "\"" + new string('a', 100) + "\\ud800\"")));
        Assert.Equal("after.v", lone.FieldPath);
        Assert.Contains("unpaired UTF-16 surrogate", lone.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_unchanged_toast_placeholder_is_still_recognised()
    {
        var placeholder = "__unavailable_" + new string('p', 120);
        var options = DebeziumDecoderOptions.Default with { UnavailablePlaceholder = placeholder };
        foreach (var form in new[] { placeholder, Convert.ToHexStringLower(Encoding.UTF8.GetBytes(placeholder)) })
        {
            Assert.Same(Unavailable.Value, Decode(Value(TextSchema, JsonString(form)), options).After!["v"]);
        }
    }

    [Fact]
    public void Long_texts_in_arrays_and_maps_are_strings()
    {
        var text = new string('z', 500);
        var array = Decode(Value("""{"type":"array","optional":true,"items":{"type":"string","optional":true}}""", $"[{JsonString(text)}]")).After!;
        Assert.Equal(text, Assert.IsType<string>(Assert.IsAssignableFrom<IReadOnlyList<object?>>(array["v"])[0]));

        var map = Decode(Value("""{"type":"map","optional":true,"keys":{"type":"string","optional":false},"values":{"type":"string","optional":true}}""", $"{{\"k\":{JsonString(text)}}}")).After!;
        Assert.Equal(text, Assert.IsType<string>(Assert.IsType<Row>(map["v"])["k"]));
    }

    /// <summary>A JSON string literal as Jackson writes it (only quote, backslash and control characters escaped), or with every non-ASCII character escaped.</summary>
    private static string JsonString(string text, bool escapeAll = false)
    {
        var b = new StringBuilder("\"");
        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                b.Append('\\').Append(c);
            }
            else if (c < 0x20 || (escapeAll && c > 0x7E))
            {
                b.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                b.Append(c);
            }
        }

        return b.Append('"').ToString();
    }

    private static byte[] Write(Row row, JavaScriptEncoder? encoder)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = encoder, SkipValidation = true }))
        {
            CanonicalJson.WriteRow(writer, row);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
