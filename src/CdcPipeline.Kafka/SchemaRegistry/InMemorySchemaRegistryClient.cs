using System.Net;
using Confluent.SchemaRegistry;

namespace CdcPipeline.Kafka.SchemaRegistry;

/// <summary>
/// A Schema Registry held in memory, for tests and offline tools: register, look up by id, by
/// subject and version, latest — what Confluent's Avro serializer and deserializer and our
/// <see cref="Avro.DebeziumAvroDecoder"/> call. Like the real registry, one schema text gets one id
/// across subjects, and a miss throws <see cref="SchemaRegistryException"/> with the registry's
/// error codes (40401 subject, 40402 version, 40403 schema; a lookup under an unknown subject is
/// 40401). Compatibility checks, associations and metadata look-ups throw
/// <see cref="NotSupportedException"/>. Thread-safe.
/// </summary>
public sealed class InMemorySchemaRegistryClient : ISchemaRegistryClient
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Schema> _byId = [];
    private readonly Dictionary<string, int> _idByText = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<RegisteredSchema>> _subjects = new(StringComparer.Ordinal);
    private int _nextId = 1;

    public IEnumerable<KeyValuePair<string, string>> Config { get; } = [];

    public IAuthenticationHeaderValueProvider AuthHeaderProvider => null!;

    public IWebProxy Proxy => null!;

    public int MaxCachedSchemas => int.MaxValue;

    public Task<int> RegisterSchemaAsync(string subject, string avroSchema, bool normalize = false) =>
        RegisterSchemaAsync(subject, new Schema(avroSchema, SchemaType.Avro), normalize);

    public async Task<int> RegisterSchemaAsync(string subject, Schema schema, bool normalize = false) =>
        (await RegisterSchemaWithResponseAsync(subject, schema, normalize).ConfigureAwait(false)).Id;

    public Task<RegisteredSchema> RegisterSchemaWithResponseAsync(string subject, Schema schema, bool normalize = false)
    {
        ArgumentNullException.ThrowIfNull(schema);
        lock (_lock)
        {
            if (!_idByText.TryGetValue(schema.SchemaString, out var id))
            {
                id = _nextId++;
                _idByText[schema.SchemaString] = id;
                _byId[id] = new Schema(schema.SchemaString, schema.References ?? [], schema.SchemaType);
            }

            if (!_subjects.TryGetValue(subject, out var versions))
            {
                versions = [];
                _subjects[subject] = versions;
            }

            var existing = versions.Find(v => v.Id == id);
            if (existing is null)
            {
                existing = new RegisteredSchema(subject, versions.Count + 1, id, schema.SchemaString, schema.SchemaType, schema.References ?? []);
                versions.Add(existing);
            }

            return Task.FromResult(existing);
        }
    }

    public Task<int> GetSchemaIdAsync(string subject, string avroSchema, bool normalize = false) =>
        GetSchemaIdAsync(subject, new Schema(avroSchema, SchemaType.Avro), normalize);

    public async Task<int> GetSchemaIdAsync(string subject, Schema schema, bool normalize = false) =>
        (await LookupSchemaAsync(subject, schema, ignoreDeletedSchemas: true, normalize).ConfigureAwait(false)).Id;

    public Task<RegisteredSchema> LookupSchemaAsync(string subject, Schema schema, bool ignoreDeletedSchemas, bool normalize = false)
    {
        ArgumentNullException.ThrowIfNull(schema);
        lock (_lock)
        {
            if (!_subjects.TryGetValue(subject, out var versions))
            {
                throw new SchemaRegistryException($"Subject '{subject}' not found.", HttpStatusCode.NotFound, 40401);
            }

            var found = versions.Find(v => v.SchemaString == schema.SchemaString);
            return found is not null
                ? Task.FromResult(found)
                : throw new SchemaRegistryException("Schema not found", HttpStatusCode.NotFound, 40403);
        }
    }

    public Task<Schema> GetSchemaAsync(int id, string format = null!)
    {
        lock (_lock)
        {
            return _byId.TryGetValue(id, out var schema)
                ? Task.FromResult(schema)
                : throw new SchemaRegistryException($"Schema {id} not found", HttpStatusCode.NotFound, 40403);
        }
    }

    public Task<Schema> GetSchemaBySubjectAndIdAsync(string subject, int id, string format = null!) => GetSchemaAsync(id, format);

    public Task<RegisteredSchema> GetRegisteredSchemaAsync(string subject, int version, bool ignoreDeletedSchemas = true)
    {
        lock (_lock)
        {
            var found = Versions(subject).Find(v => v.Version == version);
            return found is not null
                ? Task.FromResult(found)
                : throw new SchemaRegistryException($"Version {version} not found under subject '{subject}'", HttpStatusCode.NotFound, 40402);
        }
    }

    public async Task<string> GetSchemaAsync(string subject, int version) =>
        (await GetRegisteredSchemaAsync(subject, version).ConfigureAwait(false)).SchemaString;

    public Task<RegisteredSchema> GetLatestSchemaAsync(string subject)
    {
        lock (_lock)
        {
            var versions = Versions(subject);
            return versions.Count > 0
                ? Task.FromResult(versions[^1])
                : throw new SchemaRegistryException($"Subject '{subject}' not found", HttpStatusCode.NotFound, 40401);
        }
    }

    public Task<List<string>> GetAllSubjectsAsync()
    {
        lock (_lock)
        {
            return Task.FromResult(_subjects.Keys.Order(StringComparer.Ordinal).ToList());
        }
    }

    public Task<List<int>> GetSubjectVersionsAsync(string subject)
    {
        lock (_lock)
        {
            var versions = Versions(subject);
            return versions.Count > 0
                ? Task.FromResult(versions.Select(v => v.Version).ToList())
                : throw new SchemaRegistryException($"Subject '{subject}' not found", HttpStatusCode.NotFound, 40401);
        }
    }

    public string ConstructKeySubjectName(string topic, string recordType = null!) => topic + "-key";

    public string ConstructValueSubjectName(string topic, string recordType = null!) => topic + "-value";

    public void ClearLatestCaches()
    {
    }

    public void ClearCaches()
    {
    }

    public Task<Schema> GetSchemaByGuidAsync(string guid, string format = null!) =>
        throw Unsupported(nameof(GetSchemaByGuidAsync));

    public Task<RegisteredSchema> GetLatestWithMetadataAsync(string subject, IDictionary<string, string> metadata, bool ignoreDeletedSchemas) =>
        throw Unsupported(nameof(GetLatestWithMetadataAsync));

    public Task<bool> IsCompatibleAsync(string subject, string avroSchema) => throw Unsupported(nameof(IsCompatibleAsync));

    public Task<bool> IsCompatibleAsync(string subject, Schema schema) => throw Unsupported(nameof(IsCompatibleAsync));

    public Task<Compatibility> GetCompatibilityAsync(string subject = null!) => throw Unsupported(nameof(GetCompatibilityAsync));

    public Task<Compatibility> UpdateCompatibilityAsync(Compatibility compatibility, string subject = null!) =>
        throw Unsupported(nameof(UpdateCompatibilityAsync));

    /// <summary>No associations: the serdes (2.16) ask for a topic's associations first and fall back to the subject name strategy.</summary>
    public Task<List<Association>> GetAssociationsByResourceNameAsync(
        string resourceName, string resourceNamespace, string resourceType, List<string> associationTypes, string lifecycle, int offset, int limit) =>
        Task.FromResult(new List<Association>());

    public Task<AssociationResponse> CreateAssociationAsync(AssociationCreateOrUpdateRequest request) =>
        throw Unsupported(nameof(CreateAssociationAsync));

    public Task DeleteAssociationsAsync(string resourceId, string resourceType, List<string> associationTypes, bool cascadeLifecycle) =>
        throw Unsupported(nameof(DeleteAssociationsAsync));

    public void Dispose()
    {
    }

    private List<RegisteredSchema> Versions(string subject) => _subjects.TryGetValue(subject, out var v) ? v : [];

    private static NotSupportedException Unsupported(string member) =>
        new($"InMemorySchemaRegistryClient does not implement {member}: it covers register and look-up (by id, subject/version, latest) only; use a real Schema Registry (CachedSchemaRegistryClient) for compatibility, metadata and associations.");
}
