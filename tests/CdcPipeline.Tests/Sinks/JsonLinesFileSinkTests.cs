using System.Text.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Sinks;

public class JsonLinesFileSinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-file-sink-").FullName;

    private static DomainEvent Raw(long i)
    {
        var change = InMemoryChangeSource.Change(i, "K" + i, "S");
        return new DomainEvent { Id = "id" + i, Type = DomainEvent.RawChangeType, Source = "/t", Position = change.Position, Change = change };
    }

    [Fact]
    public async Task Appends_whole_lines_and_never_truncates()
    {
        var path = Path.Combine(_dir, "out", "events.jsonl");
        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(1), Raw(2)], TestContext.Current.CancellationToken);
        }

        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(3)], TestContext.Current.CancellationToken);
        }

        var lines = await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(3, lines.Length);
        Assert.Equal(["K1", "K2", "K3"], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetProperty("ord_no").GetString()));
    }

    [Fact]
    public async Task A_torn_last_line_from_a_killed_process_is_not_glued_to_the_next()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        await File.WriteAllTextAsync(path, "{\"kind\":\"change\"}\n{\"kind\":\"cha", TestContext.Current.CancellationToken);
        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(7)], TestContext.Current.CancellationToken);
        }

        var lines = await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(3, lines.Length);
        Assert.Equal("{\"kind\":\"cha", lines[1]);
        Assert.Equal("K7", JsonDocument.Parse(lines[2]).RootElement.GetProperty("key").GetProperty("ord_no").GetString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
