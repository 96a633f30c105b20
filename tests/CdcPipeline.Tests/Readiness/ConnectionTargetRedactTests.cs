using CdcPipeline.Postgres.Readiness;

namespace CdcPipeline.Tests.Readiness;

/// <summary>What <see cref="ConnectionTarget.Redact"/> hides from a message: the password, never what the same line prints anyway.</summary>
public class ConnectionTargetRedactTests
{
    [Theory]
    // user and password both cdc (the demo's): it said role "***", hiding nothing and telling that the password is the user name
    [InlineData("role \"cdc\" does not exist", "Host=127.0.0.1;Username=cdc;Password=cdc;Database=legacy", "role \"cdc\" does not exist")]
    [InlineData("database \"cdcdb\" does not exist", "Host=127.0.0.1;Username=u;Password=cdc;Database=cdcdb", "database \"cdcdb\" does not exist")]
    // where a password can appear, it is hidden even when it equals the user name
    [InlineData("bad: Username=cdc;Password=cdc;Host=h", "Host=127.0.0.1;Username=cdc;Password=cdc", "bad: Username=cdc;Password=***;Host=h")]
    [InlineData("bad: pwd = 'cdc' at postgres://cdc:cdc@h/db", "Host=127.0.0.1;Username=cdc;Password=cdc", "bad: pwd = *** at postgres://***@h/db")]
    // a password that is no printed name is hidden wherever it appears
    [InlineData("echo s3cret and s3cret", "Host=127.0.0.1;Username=cdc;Password=s3cret", "echo *** and ***")]
    [InlineData("user cdc echoed cdc-pw", "Host=127.0.0.1;Username=cdc;Password=cdc-pw", "user cdc echoed ***")]
    // a connection string Npgsql refuses: its Password= value as written, everywhere
    [InlineData("Bogus=1 cdc", "Bogus=1;Username=cdc;Password=cdc", "Bogus=1 ***")]
    public void The_password_is_hidden_but_not_the_names_the_line_prints_anyway(string message, string connectionString, string expected)
    {
        Assert.Equal(expected, ConnectionTarget.Redact(message, connectionString));
    }
}
