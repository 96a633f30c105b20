using System.Numerics;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Tests.Changes;

public class ExactDecimalTests
{
    [Theory]
    [InlineData("-12.50", "-12.50")]
    [InlineData("0.001", "0.001")]
    [InlineData("-0.001", "-0.001")]
    [InlineData("1234567890123456789012345678901234567890.123456789", "1234567890123456789012345678901234567890.123456789")]
    [InlineData("1.5e2", "150")]
    [InlineData("NaN", "NaN")]
    public void Parse_then_ToString_keeps_every_digit_and_the_scale(string text, string expected) =>
        Assert.Equal(expected, ExactDecimal.Parse(text).ToString());

    [Fact]
    public void Twos_complement_bytes_decode_with_sign_and_scale()
    {
        // -1250 = 0xFB1E in two's complement, scale 2 → -12.50
        Assert.Equal("-12.50", ExactDecimal.FromBigEndianTwosComplement([0xFB, 0x1E], 2).ToString());
        var big = ExactDecimal.Parse("-98765432109876543210987654321098765.4321");
        Assert.Equal(big.ToString(), ExactDecimal.FromBigEndianTwosComplement(big.ToBigEndianTwosComplement(), big.Scale).ToString());
    }

    [Fact]
    public void Numeric_equality_ignores_trailing_zeros_but_text_keeps_them()
    {
        var a = new ExactDecimal(new BigInteger(100), 2);
        var b = new ExactDecimal(BigInteger.One, 0);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal("1.00", a.ToString());
        Assert.True(ExactDecimal.Parse("2.5") > 2L);
    }

    [Theory]
    [InlineData("999999999999999999", "999999999999999999", 0)] // 18 digits: the long fast path
    [InlineData("-1234567890123456789", "-1234567890123456789", 0)] // 19 digits: the big-integer path
    [InlineData("0.000000000000000001", "1", 18)] // 19 digits with the leading zeros
    [InlineData("-0.05", "-5", 2)]
    [InlineData("00012.340", "12340", 3)]
    public void Parse_takes_the_same_value_on_either_side_of_the_long_fast_path(string text, string unscaled, int scale)
    {
        var value = ExactDecimal.Parse(text);
        Assert.Equal(BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture), value.Unscaled);
        Assert.Equal(scale, value.Scale);
    }

    [Theory]
    [InlineData("-0.05")]
    [InlineData("0.000")]
    [InlineData("42")]
    [InlineData("-Infinity")]
    [InlineData("123456789012345678901234567890.1234567890")]
    public void TryFormat_writes_exactly_the_ToString_text_and_refuses_a_short_buffer(string text)
    {
        var value = ExactDecimal.Parse(text);
        Span<char> buffer = stackalloc char[64];
        Assert.True(value.TryFormat(buffer, out var written));
        Assert.Equal(text, buffer[..written].ToString());
        Assert.Equal(text, value.ToString());
        Assert.False(value.TryFormat(buffer[..(text.Length - 1)], out _));
    }

    [Fact]
    public void A_value_longer_than_the_stack_buffer_still_prints_every_digit()
    {
        var text = "-" + new string('7', 90) + "." + new string('3', 40);
        Assert.Equal(text, ExactDecimal.Parse(text).ToString());
        Assert.Equal("0." + new string('0', 99) + "1", new ExactDecimal(BigInteger.One, 100).ToString());
    }

    [Theory]
    [InlineData("9223372036854775807", 0, "9223372036854775807")] // long.MaxValue: formatted as a long
    [InlineData("-9223372036854775807", 0, "-9223372036854775807")]
    [InlineData("-9223372036854775808", 0, "-9223372036854775808")] // long.MinValue: its absolute value is no long
    [InlineData("9223372036854775808", 0, "9223372036854775808")]
    [InlineData("-9223372036854775809", 4, "-922337203685477.5809")]
    [InlineData("-9223372036854775807", 25, "-0.0000009223372036854775807")]
    [InlineData("0", 3, "0.000")]
    [InlineData("-5", 2, "-0.05")]
    public void Unscaled_values_at_the_edges_of_a_long_print_every_digit(string unscaled, int scale, string expected)
    {
        var value = new ExactDecimal(BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture), scale);
        Assert.Equal(expected, value.ToString());
        Span<char> buffer = stackalloc char[64];
        Assert.True(value.TryFormat(buffer, out var written));
        Assert.Equal(expected, buffer[..written].ToString());
    }
}
