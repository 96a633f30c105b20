using CdcPipeline.Postgres.Readiness;

namespace CdcPipeline.Tests.Readiness;

public sealed class ScramVerifierTests
{
    [Fact]
    public void A_verifier_matches_its_password_and_no_other()
    {
        var verifier = ScramVerifier.Create("pencil");

        Assert.StartsWith("SCRAM-SHA-256$4096:", verifier, StringComparison.Ordinal);
        Assert.DoesNotContain("pencil", verifier, StringComparison.Ordinal);
        Assert.True(ScramVerifier.Matches(verifier, "pencil"));
        Assert.False(ScramVerifier.Matches(verifier, "pencil2"));
    }

    [Fact]
    public void Each_verifier_has_its_own_salt() => Assert.NotEqual(ScramVerifier.Create("pencil"), ScramVerifier.Create("pencil"));

    [Theory]
    [InlineData(null)]
    [InlineData("md5a3556571e93b0d20722ba62be61e8c2d")]
    [InlineData("SCRAM-SHA-256$x:y$z")]
    [InlineData("SCRAM-SHA-256$4096:!!notbase64$a:b")]
    public void Other_or_broken_verifiers_never_match(string? verifier) => Assert.False(ScramVerifier.Matches(verifier, "pencil"));
}
