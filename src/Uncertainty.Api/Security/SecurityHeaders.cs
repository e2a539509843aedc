namespace Uncertainty.Api.Security;

/// <summary>
/// Response headers that limit what a browser does with the service's pages: a Content-Security-Policy that lets
/// the explorer load scripts, styles and data from this origin only (no inline script or style, no framing), so a
/// model name or label that slipped into the page as markup still could not run; and, on every response,
/// <c>X-Content-Type-Options: nosniff</c> and <c>Referrer-Policy: no-referrer</c>.
/// </summary>
public static class SecurityHeaders
{
    /// <summary>The explorer's policy: everything from this origin, nothing inline, no plugins, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    /// <summary>
    /// Swagger UI is a third-party page not written for this policy (its set-up script can build functions from
    /// strings, which script-src 'self' forbids): it keeps nosniff and the referrer policy, not the explorer's CSP.
    /// </summary>
    private static readonly PathString SwaggerUi = new("/swagger");

    /// <summary>
    /// Adds the headers to every response, including error pages written later in the pipeline (they are set
    /// when the response starts). Put it before UseDefaultFiles/UseStaticFiles so the explorer's files carry them.
    /// </summary>
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                var headers = http.Response.Headers;
                if (!http.Request.Path.StartsWithSegments(SwaggerUi, StringComparison.OrdinalIgnoreCase))
                {
                    headers.ContentSecurityPolicy = ContentSecurityPolicy;
                }

                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                return Task.CompletedTask;
            }, context);
            return next(context);
        });
}
