using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// Credentials written into a URL (<c>https://user:password@host:port</c>). .NET's HTTP clients neither send them
/// nor keep them out of their error messages, so they are taken out of the URL and sent as basic auth instead.
/// </summary>
public static partial class UrlCredentials
{
    /// <summary><paramref name="url"/> without its user info, and that user info unescaped (<c>user:password</c>); null when it has none.</summary>
    public static (Uri Url, string? UserInfo) Split(Uri url) =>
        string.IsNullOrEmpty(url.UserInfo)
            ? (url, null)
            : (new UriBuilder(url) { UserName = "", Password = "" }.Uri, Uri.UnescapeDataString(url.UserInfo));

    /// <summary>The HTTP basic authorization for <paramref name="userInfo"/> as <see cref="Split"/> gives it (a user without ':' has an empty password); null for none.</summary>
    public static AuthenticationHeaderValue? BasicAuthorization(string? userInfo) =>
        userInfo is null
            ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(userInfo.Contains(':', StringComparison.Ordinal) ? userInfo : userInfo + ":")));

    /// <summary>
    /// <paramref name="url"/> as written, for a message, with what stands between its scheme (if any) and its last <c>@</c>
    /// shown as <c>***</c>. For text that is no valid URL, which <see cref="Split"/> cannot take apart: a password with an
    /// unescaped <c>#</c> or <c>/</c> breaks the parse, so the last <c>@</c> anywhere, not the authority's, ends the credentials.
    /// </summary>
    public static string Hide(string url)
    {
        var at = url.LastIndexOf('@');
        if (at < 0)
        {
            return url;
        }

        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var start = scheme >= 0 && scheme < at ? scheme + 3 : 0;
        return string.Concat(url.AsSpan(0, start), "***", url.AsSpan(at));
    }

    /// <summary>
    /// <paramref name="text"/> (a client library's log line or error) with the credentials of every URL in it shown as <c>***</c>:
    /// librdkafka names a URL it could not reach as configured (the OIDC token endpoint), credentials and all. As in
    /// <see cref="Hide"/>, a password may hold an unescaped <c>/</c>, <c>?</c> or <c>#</c>: everything up to the URL's last
    /// <c>@</c> (before a space or a quote) goes, at worst some of its path too.
    /// </summary>
    public static string HideIn(string text) =>
        text.Contains('@', StringComparison.Ordinal) ? UserInfoInText().Replace(text, "***@") : text;

    [GeneratedRegex(@"(?<=://)[^\s""'<>]+@")]
    private static partial Regex UserInfoInText();
}
