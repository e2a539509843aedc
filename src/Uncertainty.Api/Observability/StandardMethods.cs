namespace Uncertainty.Api.Observability;

/// <summary>
/// The HTTP metrics label each request with its method as sent, so a client inventing methods (ZZA1, ZZB2, ...) would add a
/// set of series per name to every scrape, without bound. Methods HTTP defines pass; any other is a 501 before it is counted.
/// </summary>
public static class StandardMethods
{
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete,
        HttpMethods.Patch, HttpMethods.Options, HttpMethods.Trace, HttpMethods.Connect,
    };

    /// <summary>Put before the HTTP metrics: a request with a method HTTP does not define gets 501 Not Implemented (a problem body).</summary>
    public static IApplicationBuilder UseStandardMethodsOnly(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            if (Known.Contains(context.Request.Method))
            {
                return next(context);
            }

            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            return Task.CompletedTask;
        });
}
