using System.Security.Cryptography;
using System.Text;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// Builds a SCRAM-SHA-256 verifier client-side, as psql's <c>\password</c> does, so the plain password never reaches
/// the server (nor its statement log); <c>CREATE ROLE … PASSWORD 'SCRAM-SHA-256$…'</c> stores a verifier as is.
/// Passwords are used as UTF-8 without SASLprep normalisation (identical for ASCII passwords).
/// </summary>
public static class ScramVerifier
{
    private const int Iterations = 4096;

    public static string Create(string password) => Create(password, RandomNumberGenerator.GetBytes(16), Iterations);

    /// <summary>True when <paramref name="verifier"/> (a <c>pg_authid.rolpassword</c>) was made from <paramref name="password"/>.</summary>
    public static bool Matches(string? verifier, string password)
    {
        // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
        if (verifier is null || !verifier.StartsWith("SCRAM-SHA-256$", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = verifier["SCRAM-SHA-256$".Length..].Split('$');
        var head = parts[0].Split(':');
        if (parts.Length != 2 || head.Length != 2 || !int.TryParse(head[0], System.Globalization.CultureInfo.InvariantCulture, out var iterations))
        {
            return false;
        }

        try
        {
            return Create(password, Convert.FromBase64String(head[1]), iterations) == verifier;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Create(string password, byte[] salt, int iterations)
    {
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return $"SCRAM-SHA-256${iterations.ToString(System.Globalization.CultureInfo.InvariantCulture)}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}
