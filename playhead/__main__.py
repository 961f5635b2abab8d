import sys

from playhead.cli import main

sys.exit(main())
