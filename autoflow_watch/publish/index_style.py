"""The index page's stylesheet, inline in the page (nothing to fetch, works from file://)."""

INDEX_CSS = """
html{font-family:"Liberation Sans",Arial,"Helvetica Neue","DejaVu Sans",sans-serif;color:#1b2430;font-size:15px}
body{max-width:76rem;margin:2rem auto 3rem;padding:0 1.2rem;line-height:1.45}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.72rem;font-weight:700;color:#1f5a96}
h1{margin:.2rem 0 .3rem;font-size:1.9rem}
h2{margin:2.2rem 0 .2rem;font-size:1.3rem;border-bottom:1px solid #d8dde4;padding-bottom:.2rem}
a{color:#1f5a96}a.file,a.manifest{display:inline-block;margin-right:.6rem;white-space:nowrap}
a.manifest{color:#5d6877}
.muted{color:#5d6877;font-size:.85rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
th,td{text-align:left;padding:.38rem .6rem;border-bottom:1px solid #e3e7ec;vertical-align:top}
thead th{border-bottom:1.5px solid #1b2430;font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:#5d6877}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.date{white-space:nowrap;font-weight:700;font-variant-numeric:tabular-nums}
.state{font-weight:700;white-space:nowrap}
.state::before{content:"";display:inline-block;width:.6em;height:.6em;border-radius:50%;margin-right:.4em;
background:currentColor;vertical-align:.05em}
.succeeded{color:#1e7a3c}.failed,.dead{color:#b3261e}.running{color:#1f5a96}.pending,.incomplete{color:#8a6d00}
tr.succeeded,tr.failed,tr.dead,tr.running,tr.pending,tr.incomplete{color:inherit}
table.summary{max-width:60rem}
table.runs{table-layout:fixed;min-width:62rem}
col.c-date{width:9.5rem}col.c-state{width:17rem}col.c-num{width:6rem}col.c-time{width:9.5rem}col.c-failed{width:17rem}
th{white-space:nowrap}td.time{white-space:nowrap;font-variant-numeric:tabular-nums}
details,div.error{margin-top:.2rem;font-size:.8rem;color:#5d6877}
summary{cursor:pointer;overflow-wrap:anywhere}
details pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f5f8;padding:.5rem;font-size:.75rem}
.attempt{margin-bottom:.2rem}
"""
