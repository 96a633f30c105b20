using CdcPipeline.Postgres.Readiness;

namespace CdcPipeline.Tests.Readiness;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData(0L, "0 bytes")]
    [InlineData(1023L, "1023 bytes")]
    [InlineData(1024L, "1 kB")]
    [InlineData(465416L, "455 kB")] // three significant digits at most
    [InlineData(47104L, "46 kB")]
    [InlineData(12902L, "12.6 kB")]
    [InlineData(1536L * 1024, "1.5 MB")]
    [InlineData(200L * 1024 * 1024 * 1024, "200 GB")]
    public void Formats_like_pg_size_pretty_in_1024_steps(long bytes, string expected) => Assert.Equal(expected, ByteSize.Format(bytes));

    [Fact]
    public void A_missing_value_is_a_dash() => Assert.Equal("-", ByteSize.Format(null));

    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("512kB", 512L * 1024)]
    [InlineData("64MB", 64L * 1024 * 1024)]
    [InlineData("1 GB", 1L << 30)]
    [InlineData("1.5gb", 3L << 29)]
    public void Parses_sizes_with_units(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MB")]
    [InlineData("12 parsecs")]
    public void Rejects_what_is_not_a_size(string text) => Assert.False(ByteSize.TryParse(text, out _));
}
