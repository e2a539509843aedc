using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Uncertainty.Api.Security;

namespace Uncertainty.Api.Tests;

public sealed class SecurityHeadersTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private HttpClient Client() => factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

    [Theory]
    [InlineData("/", HttpStatusCode.OK)]
    [InlineData("/index.html", HttpStatusCode.OK)]
    [InlineData("/explorer", HttpStatusCode.Redirect)]
    [InlineData("/explorer.js", HttpStatusCode.OK)]
    [InlineData("/vendor/chart.umd.min.js", HttpStatusCode.OK)]
    public async Task The_explorer_is_served_with_its_content_security_policy_nosniff_and_no_referrer(string path, HttpStatusCode status)
    {
        var response = await Client().GetAsync(path);

        Assert.Equal(status, response.StatusCode);
        var policy = Header(response, "Content-Security-Policy");
        Assert.Equal(SecurityHeaders.ContentSecurityPolicy, policy);
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
        Assert.Equal("no-referrer", Header(response, "Referrer-Policy"));
    }

    [Fact]
    public async Task The_page_itself_comes_back_at_slash_with_the_headers()
    {
        var response = await Client().GetAsync("/");

        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Uncertainty explorer", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(Header(response, "Content-Security-Policy"));
        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
    }

    [Fact]
    public async Task Problem_responses_carry_nosniff_and_swagger_ui_is_left_out_of_the_policy()
    {
        var client = Client();

        var missing = await client.GetAsync("/models/no-such-model");
        var swagger = await client.GetAsync("/swagger/index.html");

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("nosniff", Header(missing, "X-Content-Type-Options"));
        Assert.Equal(SecurityHeaders.ContentSecurityPolicy, Header(missing, "Content-Security-Policy"));
        Assert.Equal(HttpStatusCode.OK, swagger.StatusCode);
        Assert.Equal("nosniff", Header(swagger, "X-Content-Type-Options"));
        Assert.Null(Header(swagger, "Content-Security-Policy"));
    }
}
