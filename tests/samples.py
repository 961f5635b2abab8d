"""The Omny reference request (shared/reference/omny-consumption-api.txt) as data."""

ORGANIZATION = "126281f8-200e-4c9f-8378-a4870055423b"
CLIP = "9b5c82f7-74cf-4841-a870-a670017cc8eb"
SESSION = "a039f83d-1916-436b-a090-efbc08698506"


def omny_request(session: str = SESSION, clip: str = CLIP, org: str = ORGANIZATION) -> dict:
    steps = [("Start", 0, 1, 1540270724), ("Stop", 4.554, 2, 1540270728),
             ("Start", 308.053, 3, 1540270728), ("Stop", 542.643, 4, 1540270962)]
    return {
        "Source": "Web",
        "Events": [
            {"OrganizationId": org, "ClipId": clip, "SessionId": session, "Type": kind,
             "Position": position, "SeqNumber": seq, "Timestamp": stamp}
            for kind, position, seq, stamp in steps
        ],
        "Completed": True,
    }
