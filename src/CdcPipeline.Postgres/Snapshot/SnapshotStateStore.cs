using System.Text.Json;

namespace CdcPipeline.Postgres.Snapshot;

/// <summary>Reads and atomically replaces <c>{dir}/{slot}.snapshot.json</c> (write to a temp file, then rename).</summary>
internal sealed class SnapshotStateStore(string directory, string slot)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
    private readonly Lock _lock = new();

    public string Path { get; } = System.IO.Path.Combine(directory, slot + ".snapshot.json");

    public SnapshotState? Load()
    {
        lock (_lock)
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            try
            {
                return JsonSerializer.Deserialize<SnapshotState>(File.ReadAllText(Path), JsonOptions);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"snapshot state file '{Path}' is damaged ({e.Message}); delete it to snapshot again from the start", e);
            }
        }
    }

    public void Save(SnapshotState state)
    {
        lock (_lock)
        {
            Directory.CreateDirectory(directory);
            var temp = Path + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(state, JsonOptions));
            File.Move(temp, Path, overwrite: true);
        }
    }
}
