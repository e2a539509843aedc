using System.Diagnostics;
using Uncertainty.Model.Data;
using Uncertainty.Model.Text;

namespace Uncertainty.Model.Tests;

public sealed class EmailTextTests
{
    [Fact]
    public void Headers_are_dropped_except_subject_and_from_which_come_before_the_body()
    {
        const string raw = "From sender@example.com  Thu Aug 22 12:36:23 2002\r\n" +
            "Received: from mail.example.com (127.0.0.1)\r\n\tby relay; Thu, 22 Aug 2002\r\n" +
            "From: Jane Doe <jane@example.org>\r\n" +
            "Subject: Win a\r\n  prize now\r\n" +
            "Message-Id: <123@example.com>\r\n" +
            "\r\n" +
            "Hello   there,\r\n\r\nSubject: not a header\r\n";

        var text = TextDataset.MessageText(raw);

        Assert.Equal("Win a prize now Jane Doe <jane@example.org> Hello there, Subject: not a header", text);
    }

    [Fact]
    public void Html_tags_comments_and_style_blocks_are_removed_and_entities_decoded()
    {
        const string raw = "Subject: Offer\n\n<html><head><style>p { color: red }</style></head><body><p>Buy&nbsp;now</p>" +
            "<!-- hidden words --><a href=\"http://x.com\">here</a><br/>or <http://y.com> or <bob@z.org>; a < b</body></html>";

        var text = TextDataset.MessageText(raw);

        Assert.Equal("Offer Buy now here or <http://y.com> or <bob@z.org>; a < b", text);
    }

    [Fact]
    public void A_text_without_headers_is_all_body()
    {
        Assert.Equal("Dear friend: you won!", TextDataset.MessageText("Dear friend: you won!\n"));
        Assert.Equal("Just text", TextDataset.MessageText("  Just\n\ntext "));
    }

    [Fact]
    public void Many_unclosed_angle_brackets_take_linear_time()
    {
        var raw = "Subject: x\n\n" + string.Concat(Enumerable.Repeat("<a<", 300_000)) + ">" + string.Concat(Enumerable.Repeat("<style>", 100_000));
        var clock = Stopwatch.StartNew();

        var text = TextDataset.MessageText(raw);

        Assert.StartsWith("x <a", text, StringComparison.Ordinal);
        // Generous: well under a second; a pass that searched for '>' from every '<' would take minutes.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{clock.Elapsed}");
    }
}
