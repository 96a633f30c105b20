namespace CdcPipeline.Kafka;

/// <summary>
/// Credentials written into a URL (<c>https://user:password@host:port</c>). .NET's HTTP clients neither send them
/// nor keep them out of their error messages, so they are taken out of the URL and sent as basic auth instead.
/// </summary>
internal static class UrlCredentials
{
    /// <summary><paramref name="url"/> without its user info, and that user info unescaped (<c>user:password</c>); null when it has none.</summary>
    public static (Uri Url, string? UserInfo) Split(Uri url) =>
        string.IsNullOrEmpty(url.UserInfo)
            ? (url, null)
            : (new UriBuilder(url) { UserName = "", Password = "" }.Uri, Uri.UnescapeDataString(url.UserInfo));
}
