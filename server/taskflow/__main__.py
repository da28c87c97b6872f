from taskflow.cli import main

raise SystemExit(main())
