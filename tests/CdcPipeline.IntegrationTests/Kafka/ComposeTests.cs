using System.Diagnostics;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class ComposeTests
{
    [Fact]
    public async Task The_production_stack_compose_file_is_valid()
    {
        var binary = new[] { "/usr/bin/docker-compose", "/usr/local/bin/docker-compose" }.FirstOrDefault(File.Exists);
        if (binary is null)
        {
            Assert.Skip("docker-compose is not installed (Debian package 'docker-compose'); it validates the file without a Docker engine");
        }

        var start = new ProcessStartInfo(binary, ["-f", Path.Combine(KafkaRecords.RepositoryRoot, "docker-compose.yml"), "config", "-q"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = KafkaRecords.RepositoryRoot,
        };
        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, "docker-compose config -q failed: " + errors);
    }
}
