// Example messages for the text view, written for this page (none is taken from the SpamAssassin corpus, whose
// message text is copyright its senders). Companies, people and addresses are made up.
// Three are "hard ham" in the corpus' sense: legitimate mail that looks like spam (a newsletter, a sale from a shop
// the reader buys from, a shipping notice with offers); then an easy ham (a mailing-list reply) and a spam.
// Each is a raw e-mail: From and Subject headers, a blank line, the body (the spam model reads those three parts).
export const textExamples = [
  {
    id: 'newsletter',
    title: 'hard ham: a tech newsletter',
    text: `From: Open Source Weekly <newsletter@osweekly.example.com>
Subject: This week: new kernel release, free e-book offer and 25% off conference passes

OPEN SOURCE WEEKLY - Issue 212

In this issue:
* The 2.4.20 kernel is out: what changed in the VM and the IDE drivers
* Review: three backup tools for small offices
* FREE e-book for subscribers: "Shell Scripting in 30 Minutes" - click here to download
* Special offer: save 25% on passes to the Open Source Summit, this week only

You are receiving this newsletter because you subscribed at osweekly.example.com.
To unsubscribe or change your e-mail address, visit the link below.
Open Source Weekly, 120 Market Street, Suite 400, San Francisco, CA`,
  },
  {
    id: 'sale',
    title: 'hard ham: a sale from a shop you use',
    text: `From: Riverside Outfitters <offers@riverside-outfitters.example.com>
Subject: Members only: 30% off everything this weekend

Dear Valued Member,

Thank you for being a Riverside Outfitters member! As a special thank-you, enjoy 30% OFF your entire order
this weekend only - online and in all stores. Free shipping on orders over $50.

Shop now and save on tents, boots and winter jackets. Limited stock - don't miss out!

Use code THANKS30 at checkout. Offer ends Sunday at midnight.

You received this e-mail because you are a Riverside Outfitters member. Click here to update your preferences
or unsubscribe. Please do not reply to this message.`,
  },
  {
    id: 'shipping',
    title: 'hard ham: a shipping notice with offers',
    text: `From: Pageturner Books <orders@pageturner.example.com>
Subject: Your order has shipped - plus picks we think you'll love

Hello,

Good news: your order #48213-77 has shipped and should arrive within 3-5 business days.
Track your package at any time from Your Account.

Customers who bought "Programming Perl" also bought:
- Learning Python, 2nd Edition - now $24.95 (save 30%)
- sed & awk Pocket Reference - only $7.95

Get FREE super saver shipping on your next order of $25 or more.

Thank you for shopping with us.
Pageturner Books customer service`,
  },
  {
    id: 'ham',
    title: 'easy ham: a mailing-list reply',
    text: `From: Martin Keane <mkeane@lists.example.org>
Subject: Re: cron job stops running after upgrade

On Tue, Jan 14, Paul wrote:
> Since the upgrade my nightly backup script no longer runs from cron, but it works fine from the shell.

Check the PATH. cron runs jobs with a minimal environment, so anything outside /usr/bin and /bin will not be
found. Either use full paths in the script or set PATH at the top of your crontab. Also have a look in
/var/log/syslog, cron logs the exit status there.

Martin`,
  },
  {
    id: 'spam',
    title: 'spam: get rich quick',
    text: `From: Success Team <winner8812@freemail.example.net>
Subject: EARN $5,000 A WEEK FROM HOME!!! 100% GUARANTEED

Dear Friend,

Are you tired of working for someone else? Our PROVEN system lets you make $$$ from home in just 2 hours a day.
NO experience needed! NO selling! Thousands of people are already making money - you could be next!

CLICK HERE NOW to get your FREE information kit. This offer will not last!

To be removed from our mailing list, reply with REMOVE in the subject line.
This message is sent in compliance with the new e-mail bill.`,
  },
];
