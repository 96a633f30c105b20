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
}
